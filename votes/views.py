from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from httpkit.errors import DetailSerializer
from httpkit.openapi import error_responses
from idempotency.decorators import idempotent

from . import services
from .serializers import VoteSerializer

HOW_TO_LIKE = "POST {post_id, dir}: dir 1 likes the post, dir 0 takes your like back."


class VoteView(APIView):
    # Lets the browsable API render a real form for {post_id, dir}.
    serializer_class = VoteSerializer
    # Likes and unlikes also count against VOTE_RATE_LIMIT (httpkit.throttling.ActionBudget).
    throttle_scopes = {"post": "votes"}

    @extend_schema(exclude=True)
    def get(self, request):
        # The browsable API opens on this page: it says how to like instead of "405".
        return Response({"detail": HOW_TO_LIKE})

    @extend_schema(
        request=VoteSerializer,
        responses={
            200: OpenApiResponse(DetailSerializer, description="Like taken back (dir 0)"),
            201: OpenApiResponse(DetailSerializer, description="Post liked (dir 1)"),
            **error_responses(
                {
                    400: "dir not 0 or 1, or post_id not a positive integer",
                    404: "No such visible post, or no like to take back",
                    409: "Already liked",
                }
            ),
        },
        summary="Like a post, or take the like back",
    )
    @idempotent("votes")
    def post(self, request):
        serializer = VoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        post_id = serializer.validated_data["post_id"]
        try:
            if serializer.validated_data["dir"] == 1:
                services.vote_cast(user=request.user, post_id=post_id)
                return Response({"detail": "Vote added."}, status=status.HTTP_201_CREATED)
            services.vote_withdraw(user=request.user, post_id=post_id)
            return Response({"detail": "Vote removed."}, status=status.HTTP_200_OK)
        except services.PostNotFound:
            raise NotFound(f"Post {post_id} does not exist.") from None
        except services.VoteNotFound:
            raise NotFound("You have not liked this post.") from None
        except services.AlreadyVoted:
            return Response({"detail": "You have already liked this post."}, status=status.HTTP_409_CONFLICT)
