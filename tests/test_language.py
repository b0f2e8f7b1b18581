"""German by default, English when the browser prefers it or the user switches."""


def test_german_is_the_default(client):
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="de">' in page and "Bei Envoix anmelden" in page


def test_the_browser_language_is_honoured(client):
    page = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in page and "Log in to Envoix" in page


def test_switching_the_language_sticks_and_returns_to_the_page(web, client):
    response = web.post("/language", {"lang": "en", "next": "/login"})
    assert response.headers["Location"] == "/login"
    assert "Log in to Envoix" in client.get("/login").get_data(as_text=True)
    web.post("/language", {"lang": "de", "next": "/login"})
    assert "Bei Envoix anmelden" in client.get("/login").get_data(as_text=True)


def test_an_unknown_language_changes_nothing(web, client):
    web.post("/language", {"lang": "xx<script>", "next": "https://evil.example"})
    assert '<html lang="de">' in client.get("/login").get_data(as_text=True)


def test_a_signed_in_users_choice_is_remembered_on_the_account(web, user, client):
    web.post("/language", {"lang": "en"})
    from envoix.db import database
    from envoix.models import User

    with database.connection_context():
        assert User.get_by_id(user.id).locale == "en"


def test_the_language_saved_on_the_account_is_used_in_a_new_session(app, web, user):
    web.post("/language", {"lang": "en"})
    web.log_out()

    from conftest import Web

    elsewhere = Web(app.test_client())  # another browser: no language in its session, none in Accept-Language
    assert '<html lang="de">' in elsewhere.get("/login").get_data(as_text=True)
    assert elsewhere.log_in().status_code == 302
    page = elsewhere.get("/accounts").get_data(as_text=True)
    assert '<html lang="en">' in page
