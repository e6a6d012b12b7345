"""Citizen H5 pages behind every sign: the report form (/report) and 「我的举报」 (/me/cases)."""
