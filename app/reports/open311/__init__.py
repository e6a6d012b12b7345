"""Open311 GeoReport v2 (/open311/v2/...), JSON and XML, with FixMyStreet's servicerequestupdates extension.

parsing.py reads a request's parameters, rendering.py writes JSON and XML (request_dict is the one view of a case
Open311 gives), routes.py and updates.py are the endpoints, media.py the job that fetches a request's media_url
(through app.fetch). No citizen identity ever leaves through here.
"""

from app.reports.open311.media import fetch_media_url
from app.reports.open311.parsing import Open311Error, requests_query
from app.reports.open311.routes import bp

__all__ = ["Open311Error", "bp", "fetch_media_url", "requests_query"]
