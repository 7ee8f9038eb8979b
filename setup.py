"""Packaging beyond setup.cfg: the top-level migrations/ folder ships inside the package.

The source layout keeps Alembic's migrations/ at the repository root (alembic.ini points at
it); a wheel installs the same files as ``dfew_build/_migrations`` so `pip install .` works
(dfew_build/db/migrate.py looks in both places).
"""

from setuptools import find_packages, setup

MIGRATIONS = {"dfew_build._migrations": "migrations",
              "dfew_build._migrations.versions": "migrations/versions"}

setup(
    packages=find_packages(include=["dfew_build", "dfew_build.*", "annotation_server",
                                    "annotation_server.*"]) + list(MIGRATIONS),
    package_dir=MIGRATIONS,
    package_data={
        "annotation_server": ["templates/*.html", "templates/partials/*.html", "static/*"],
        "dfew_build._migrations": ["*.py", "*.mako"],
        "dfew_build._migrations.versions": ["*.py"],
    },
)
