"""Every answer carries the security headers: Referrer-Policy, nosniff, frame and content policies; HSTS in
production; no-store on the pages of a signed-in user (static files stay cacheable); and `Vary: HX-Request` where
one address answers with a page or an htmx fragment."""
from cryptography.fernet import Fernet

from envoix import create_app

EVERYWHERE = {"Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}


def assert_baseline(response):
    for name, value in EVERYWHERE.items():
        assert response.headers.get(name) == value, f"{name} on {response.request.path}"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_every_answer_carries_the_baseline_headers_signed_in_or_not(web, client):
    for response in (client.get("/login"), client.get("/static/app.css"), client.get("/no-such-page")):
        assert_baseline(response)
    web.sign_up()
    for path in ("/accounts", "/connect", "/"):
        assert_baseline(client.get(path))


def test_a_signed_in_users_pages_are_never_stored_but_static_files_may_be(web, client):
    web.sign_up()
    for path in ("/accounts", "/connect"):
        response = client.get(path)
        assert response.status_code == 200
        assert "no-store" in response.headers.get("Cache-Control", ""), path
    assert "no-store" not in client.get("/static/app.css").headers.get("Cache-Control", "")


def test_a_page_that_htmx_may_ask_for_as_a_fragment_varies_on_hx_request(web, client):
    web.sign_up()
    page, fragment = web.get("/accounts"), web.get("/accounts", htmx=True)
    assert page.status_code == fragment.status_code == 200
    assert "<html" in page.get_data(as_text=True) and "<html" not in fragment.get_data(as_text=True)
    for response in (page, fragment):
        assert "HX-Request" in response.headers.get("Vary", "")


def test_hsts_in_production_and_not_in_development(tmp_path, client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    production = create_app(environ={
        "ENVOIX_ENV": "production",
        "SECRET_KEY": "k" * 48,
        "ENVOIX_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:6379/6",
        "ENVOIX_BASE_URL": "https://envoix.example",
    }, instance_path=str(tmp_path))
    response = production.test_client().get("/login", base_url="https://envoix.example")
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert_baseline(response)
