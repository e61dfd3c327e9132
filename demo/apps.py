from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for trying the API (`manage.py seed_demo`): it stands above every app it fills."""

    name = "demo"
    verbose_name = "Demo data"
