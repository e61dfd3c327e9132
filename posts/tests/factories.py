from datetime import UTC, datetime

from posts.models import Post


def make_post(
    owner, title="A title", content="Some content", published=True, created_at=None, **extra
) -> Post:
    post = Post.objects.create(owner=owner, title=title, content=content, published=published, **extra)
    if created_at is not None:
        Post.objects.filter(pk=post.pk).update(created_at=created_at)
        post.refresh_from_db()
    return post


def utc(year, month, day, hour=0, minute=0, second=0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
