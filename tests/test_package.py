"""The package installs: a wheel built from the repository, installed (not editable) into a folder of its own and
started from elsewhere, serves every page, its templates and its static files; it does not ship the test double."""
import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["envoix", "templates", "static", "pyproject.toml", "setup.py"]

SERVE_EVERY_PAGE = r"""
import json, sys
from pathlib import Path

import envoix
from envoix import create_app, migrations
from envoix.db import database

here = Path(sys.argv[1])
app = create_app({
    "TESTING": True, "SECRET_KEY": "package-test-secret-key-0123456789abcdef", "WTF_CSRF_ENABLED": False,
    "DATABASE_URL": f"sqlite:///{here / 'envoix.sqlite3'}", "HUEY_IMMEDIATE": True, "ENVOIX_EMBEDDED_WORKER": False,
    "ARGON2_PARAMETERS": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
}, environ={"ENVOIX_ENV": "development"}, instance_path=str(here / "instance"))
with app.app_context(), database.connection_context():
    migrations.upgrade()

client = app.test_client()
pages = sorted(rule.rule for rule in app.url_map.iter_rules()
               if "GET" in rule.methods and not rule.arguments and rule.endpoint != "static")
answers = {}
for who in ("anonymous", "signed in"):
    if who == "signed in":
        client.post("/signup", data={"email": "lena@example.com", "password": "korrekt-Pferd-42"})
    for path in pages + ["/no-such-page"]:
        response = client.get(path)
        answers[f"{who} {path}"] = [response.status_code, response.get_data(as_text=True)[:300]]
static = Path(app.static_folder)
for path in sorted(p for p in static.rglob("*") if p.is_file()):
    answers["static " + path.relative_to(static).as_posix()] = [client.get(f"/static/{path.relative_to(static).as_posix()}").status_code, ""]
with app.app_context():
    templates = app.jinja_env.list_templates()
    for name in templates:
        app.jinja_env.get_template(name)  # every template is there and compiles
try:
    import envoix.stripe_double  # noqa: F401
    double_shipped = True
except ImportError:
    double_shipped = False
print(json.dumps({"envoix": envoix.__file__, "templates": len(templates), "answers": answers,
                  "double_shipped": double_shipped}))
"""


@pytest.mark.package
def test_the_installed_wheel_serves_every_page_from_any_folder(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree else {}))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), "."],
                   cwd=source, check=True, capture_output=True, timeout=120)
    wheel = next((tmp_path / "dist").glob("envoix-*.whl"))
    shipped = zipfile.ZipFile(wheel).namelist()
    assert "envoix/templates/base.html" in shipped and "envoix/static/vendor/htmx-2.0.11.min.js" in shipped
    assert not [name for name in shipped if "stripe_double" in name or name.startswith("tests/")]

    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=120)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # -S: not even the test venv's editable install of the repository; its dependencies come from PYTHONPATH.
    dependencies = sysconfig.get_paths()["purelib"]
    done = subprocess.run([sys.executable, "-S", "-c", SERVE_EVERY_PAGE, str(elsewhere)], cwd=elsewhere,
                          env={"PYTHONPATH": f"{site}:{dependencies}", "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])

    assert report["envoix"].startswith(str(site))
    assert not report["double_shipped"]
    assert report["templates"] >= 30
    answers = report["answers"]
    assert len([page for page in answers if page.startswith("signed in")]) >= 4
    for page, (status, body) in answers.items():
        assert status < 500, f"{page}: {status} {body}"
        assert "TemplateNotFound" not in body
    assert answers["anonymous /login"][0] == 200 and answers["signed in /connect"][0] == 200
    assert answers["anonymous /no-such-page"][0] == 404
    assert answers["static vendor/htmx-2.0.11.min.js"][0] == 200


def pins(path):
    found = {}
    for line in (ROOT / path).read_text().splitlines():
        requirement = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" in requirement:
            name, version = requirement.split("==")
            found[name.split("[")[0].strip().lower().replace("_", "-")] = version.strip()
    return found


def test_the_lock_pins_what_pyproject_names_and_requirements_txt_is_its_runtime_part():
    # After a change to pyproject.toml's dependencies run `./dev lock` (README, "Set-up").
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock, heroku = pins("requirements-dev.txt"), pins("requirements.txt")
    runtime = [pin.split("==") for pin in project["dependencies"]]
    dev = [pin.split("==") for pin in project["optional-dependencies"]["dev"]]
    for name, version in runtime + dev:
        assert lock.get(name.split("[")[0].lower()) == version, f"{name}=={version} is not in requirements-dev.txt"
    for name, version in runtime:
        assert heroku.get(name.split("[")[0].lower()) == version, f"{name}=={version} is not in requirements.txt"
    assert "pytest" not in heroku and "ruff" not in heroku
    assert all(heroku[name] == lock[name] for name in heroku), "requirements.txt and the lock disagree"
