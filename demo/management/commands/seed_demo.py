"""Fill a database with demo users, posts (drafts included) and likes, topping up on re-runs."""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import capfirst

from accounts import usernames
from accounts.models import User
from bulk.batches import batched
from posts.models import Post
from votes.models import Vote

# Demo users are recognised by this domain alone, so re-runs never touch real accounts.
DEMO_DOMAIN = "demo.example.com"
# Printed on every run: the demo accounts exist to be logged into.
DEMO_PASSWORD = "demo-password-2026"  # noqa: S105

FIRST_NAMES = (
    "ada", "alan", "barbara", "claude", "dennis", "donald", "edsger", "frances", "grace", "guido",
    "hedy", "ivan", "john", "ken", "linus", "margaret", "niklaus", "radia", "rasmus", "shafi",
    "sophie", "tim", "tony", "vint", "whitfield", "yukihiro",
)  # fmt: skip
LAST_NAMES = (
    "lovelace", "turing", "liskov", "shannon", "ritchie", "knuth", "dijkstra", "allen", "hopper",
    "rossum", "lamarr", "sutherland", "backus", "thompson", "torvalds", "hamilton", "wirth",
    "perlman", "lerdorf", "goldwasser", "wilson", "bernerslee", "hoare", "cerf", "diffie",
    "matsumoto",
)  # fmt: skip
TOPICS = (
    "sourdough bread", "trail running", "home espresso", "balcony gardening", "film photography",
    "mechanical keyboards", "night trains", "bird watching", "board games", "bouldering",
    "urban sketching", "homebrewing", "chess openings", "bike commuting", "Python packaging",
    "PostgreSQL indexes", "rust-free cast iron", "slow travel", "jazz records", "minimalist desks",
)  # fmt: skip
TITLES = (
    "A beginner's guide to {topic}", "What a year of {topic} taught me", "Ten mistakes in {topic}",
    "Why I gave {topic} a second chance", "Notes on {topic}", "{topic}: the questions I get most",
    "The cheapest way into {topic}", "Is {topic} worth it?", "My {topic} setup, explained",
    "Weekend notes: {topic}",
)  # fmt: skip
SENTENCES = (
    "I started with {topic} almost by accident, and it stuck.",
    "The first month was mostly about unlearning habits.",
    "Most advice online overcomplicates {topic}; the basics carry you far.",
    "Budget matters less than patience here.",
    "A friend asked me where to begin, so this post is my answer.",
    "Expect to get it wrong a few times before it clicks.",
    "Keeping a small notebook helped more than any gadget.",
    "The community around {topic} is friendlier than I expected.",
    "If you try one thing from this list, make it the first.",
    "I will update this post as I learn more.",
    "Consistency beats intensity, every single time.",
    "Here is what I would tell myself a year ago.",
)


@dataclass(frozen=True)
class Plan:
    users: int
    posts: int
    drafts: int
    votes: int


class Command(BaseCommand):
    help = (
        f"Create demo users (@{DEMO_DOMAIN}, password {DEMO_PASSWORD!r}), posts dated over the past "
        "year (some drafts) and likes. Counts are totals: a re-run only tops up what is missing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=50, help="Total demo users (default 50).")
        parser.add_argument("--posts", type=int, default=500, help="Total demo posts (default 500).")
        parser.add_argument(
            "--votes", type=int, default=2000, help="Total likes by demo users (default 2000)."
        )
        parser.add_argument(
            "--drafts", type=float, default=0.1, help="Share of new posts left unpublished (default 0.1)."
        )
        parser.add_argument("--seed", type=int, default=None, help="Random seed, for repeatable data.")
        parser.add_argument("--batch-size", type=int, default=5000, help="Rows per INSERT (default 5000).")
        parser.add_argument("--dry-run", action="store_true", help="Show what would be added; write nothing.")

    def handle(self, *args, **options):
        for name in ("users", "posts", "votes"):
            if options[name] < 0:
                raise CommandError(f"--{name} cannot be negative.")
        if not 0 <= options["drafts"] <= 1:
            raise CommandError("--drafts is a share between 0 and 1.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        self.rng = random.Random(options["seed"])
        self.batch_size = options["batch_size"]
        self.now = timezone.now()

        demo_users = User.objects.filter(email__endswith=f"@{DEMO_DOMAIN}")
        demo_posts = Post.objects.filter(owner__email__endswith=f"@{DEMO_DOMAIN}")
        have_users, have_posts = demo_users.count(), demo_posts.count()
        have_published = demo_posts.filter(published=True).count()
        have_votes = Vote.objects.filter(user__email__endswith=f"@{DEMO_DOMAIN}").count()

        new_posts = max(0, options["posts"] - have_posts)
        plan = Plan(
            users=max(0, options["users"] - have_users),
            posts=new_posts,
            drafts=round(new_posts * options["drafts"]),
            votes=max(0, options["votes"] - have_votes),
        )
        total_users = have_users + plan.users
        if plan.posts and not total_users:
            raise CommandError("Posts need owners: ask for at least one user (--users).")
        capacity = total_users * (have_published + plan.posts - plan.drafts)
        if have_votes + plan.votes > capacity:
            raise CommandError(
                f"{options['votes']} likes cannot fit: {total_users} users can like at most "
                f"{capacity} published demo posts once each. Ask for fewer --votes or more --posts."
            )

        self.report("users", have_users, plan.users)
        self.report("posts", have_posts, plan.posts, f" ({plan.drafts} of them drafts)" if plan.posts else "")
        self.report("likes", have_votes, plan.votes)
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing written.")
        else:
            self.create_users(plan.users)
            self.create_posts(plan.posts, plan.drafts, demo_users)
            self.create_votes(plan.votes, demo_users)
            self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"Demo users log in as <name>@{DEMO_DOMAIN} with the password {DEMO_PASSWORD}")

    def report(self, what: str, have: int, add: int, extra: str = "") -> None:
        if add:
            self.stdout.write(f"{what}: {have} demo {what} exist, adding {add}{extra}")
        else:
            self.stdout.write(f"{what}: {have} demo {what} exist, nothing to add")

    def progress(self, label: str, done: int, total: int) -> None:
        width = 30
        filled = width * done // total
        line = f"{label:<6} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
        if self.stdout.isatty():
            self.stdout.write(f"\r{line}", ending="\n" if done == total else "")
            self.stdout.flush()
        elif done == total or 10 * done // total != 10 * (done - self.batch_size) // total:
            # Logs and pipes get a line per tenth, not one per batch.
            self.stdout.write(line)

    def batches(self, label: str, rows, total: int):
        """Yield lists of at most batch_size rows, reporting progress after each."""
        done = 0
        for batch in batched(rows, self.batch_size):
            yield batch
            done += len(batch)
            self.progress(label, done, total)

    def random_past(self, since: datetime) -> datetime:
        return since + (self.now - since) * self.rng.random()

    @transaction.atomic
    def create_users(self, count: int) -> None:
        if not count:
            return
        # One slow hash shared by every demo user: hashing per user would take minutes.
        password = make_password(DEMO_PASSWORD)
        taken = set(User.objects.filter(email__endswith=f"@{DEMO_DOMAIN}").values_list("email", flat=True))
        # bulk_create skips User.save(), which names users: named here, against every username.
        usernames_taken = {name.lower() for name in User.objects.values_list("username", flat=True)}
        year_ago = self.now - timedelta(days=365)

        def new_users():
            made, n = 0, 0
            while made < count:
                n += 1
                first, last = FIRST_NAMES[n % len(FIRST_NAMES)], LAST_NAMES[n * 7 % len(LAST_NAMES)]
                email = f"{first}.{last}.{n}@{DEMO_DOMAIN}"
                if email in taken:
                    continue
                made += 1
                yield User(email=email, password=password, created_at=self.random_past(year_ago))

        for batch in self.batches("users", new_users(), count):
            usernames.name_all(batch, usernames_taken)
            User.objects.bulk_create(batch)

    @transaction.atomic
    def create_posts(self, count: int, drafts: int, demo_users) -> None:
        if not count:
            return
        owners = list(demo_users.values_list("id", "created_at"))
        published = [False] * drafts + [True] * (count - drafts)
        self.rng.shuffle(published)

        def new_posts():
            for is_published in published:
                owner_id, joined = self.rng.choice(owners)
                topic = self.rng.choice(TOPICS)
                sentences = self.rng.sample(SENTENCES, self.rng.randint(3, 7))
                yield Post(
                    owner_id=owner_id,
                    title=capfirst(self.rng.choice(TITLES).format(topic=topic)),
                    content=" ".join(sentences).format(topic=topic),
                    published=is_published,
                    created_at=self.random_past(joined),
                )

        for batch in self.batches("posts", new_posts(), count):
            created = Post.objects.bulk_create(batch)
            # bulk_create stamps updated_at with now; a seeded post was never edited.
            Post.objects.filter(pk__in=[post.pk for post in created]).update(updated_at=F("created_at"))

    @transaction.atomic
    def create_votes(self, count: int, demo_users) -> None:
        if not count:
            return
        voters = list(demo_users.values_list("id", flat=True))
        posts = list(
            Post.objects.filter(owner__in=demo_users, published=True)
            .order_by("id")
            .values_list("id", flat=True)
        )
        liked = set(Vote.objects.filter(user__in=demo_users).values_list("user_id", "post_id"))
        # Distinct (voter, post) pairs drawn without replacement; a few extra cover pairs liked before.
        space = len(voters) * len(posts)
        drawn = self.rng.sample(range(space), min(space, count + len(liked)))
        pairs = [(voters[i // len(posts)], posts[i % len(posts)]) for i in drawn]
        pairs = [pair for pair in pairs if pair not in liked][:count]
        # Grouped by post, each batch's single trigger UPDATE touches every post row about once.
        pairs.sort(key=itemgetter(1))
        new_votes = (Vote(user_id=user_id, post_id=post_id) for user_id, post_id in pairs)

        # The triggers count only rows really inserted: a like skipped as a conflict is not counted.
        for batch in self.batches("likes", new_votes, count):
            Vote.objects.bulk_create(batch, ignore_conflicts=True)
