"""The annotation web server (FastAPI): `create_app(settings)`; `dfew-build serve` runs it."""

from annotation_server.settings import Settings


def create_app(settings: Settings, **options):
    from annotation_server.app import create_app as factory

    return factory(settings, **options)


__all__ = ["Settings", "create_app"]
