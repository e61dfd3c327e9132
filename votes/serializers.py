from rest_framework import serializers

from httpkit.converters import MAX_ID


class VoteSerializer(serializers.Serializer):
    post_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    dir = serializers.IntegerField(
        min_value=0, max_value=1, help_text="1 likes the post, 0 takes the like back."
    )
