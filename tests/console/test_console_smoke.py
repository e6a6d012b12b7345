from tests.console.conftest import csrf_from
from tests.factories import report


def test_pages_render(app, as_role):
    r = report(category_code="E0504")
    c = as_role("admin")
    for path in ["/console/", f"/console/cases/{r.id}", "/console/dashboard", "/console/admin/categories",
                 "/console/admin/departments", "/console/admin/routing", f"/cases/{r.case_number}"]:
        resp = c.get(path)
        assert resp.status_code == 200, (path, resp.get_data(as_text=True)[:3000])
    assert csrf_from(c, f"/console/cases/{r.id}")
