from django.urls import path

from .views import VoteView

urlpatterns = [path("votes/", VoteView.as_view(), name="vote")]
