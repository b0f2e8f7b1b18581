"""Packaging beyond what pyproject.toml can say: the wheel carries the top-level templates/ and static/ folders
inside the package (as envoix/templates and envoix/static), and leaves out the Stripe test double."""
from setuptools import find_packages, setup

SHIPPED_FOLDERS = {"envoix.templates": "templates", "envoix.static": "static"}

setup(
    packages=find_packages(include=["envoix", "envoix.*"], exclude=["envoix.stripe_double", "envoix.stripe_double.*"])
    + list(SHIPPED_FOLDERS),
    package_dir=SHIPPED_FOLDERS,
    include_package_data=False,  # only what package_data names: never the test double as "data" of envoix
    package_data={
        "envoix": ["translations/*/LC_MESSAGES/*", "*/translations/*/LC_MESSAGES/*"],
        **{package: ["**/*"] for package in SHIPPED_FOLDERS},
    },
)
