from django.apps import AppConfig


class FastAPIImportConfig(AppConfig):
    """One-off move from the FastAPI app: a management command, no models of its own."""

    name = "fastapi_import"
    verbose_name = "Import from the FastAPI app"
