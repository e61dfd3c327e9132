from django.apps import AppConfig


class HttpKitConfig(AppConfig):
    name = "httpkit"
    verbose_name = "HTTP kit"
