from django.apps import AppConfig


class VotesConfig(AppConfig):
    name = "votes"
    verbose_name = "Votes"

    def ready(self):
        # Posts stands below votes and names no like: lists get `has_voted` from votes' query.
        from posts.models import PostQuerySet

        from .queries import has_voted

        PostQuerySet.has_voted = staticmethod(has_voted)
