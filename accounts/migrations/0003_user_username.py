# Usernames for every account (existing ones named from their emails), and the brute-force
# failure log of accounts/lockout.py.

import accounts.usernames
import django.db.models.functions.text
import django.utils.timezone
from django.db import migrations, models


def name_existing_users(apps, schema_editor):
    """Users made before usernames existed get one from their email, oldest accounts first."""
    User = apps.get_model("accounts", "User")
    db = schema_editor.connection.alias
    taken: set[str] = set()
    batch = []
    for user in User.objects.using(db).filter(username="").order_by("created_at", "id").iterator(2000):
        accounts.usernames.name_all([user], taken)
        batch.append(user)
        if len(batch) == 2000:
            User.objects.using(db).bulk_update(batch, ["username"])
            batch = []
    User.objects.using(db).bulk_update(batch, ["username"])


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_recoverycode'),
        ('auth', '0012_alter_user_first_name_max_length'),
    ]

    operations = [
        migrations.AddField(
            model_name='user',
            name='username',
            field=models.CharField(blank=True, help_text='Public name: 3 to 30 characters of letters, digits, _ . and -, with at least one letter. Left blank, one is made from the email.', max_length=30, validators=[accounts.usernames.validate_username]),
        ),
        migrations.RunPython(name_existing_users, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name='user',
            constraint=models.UniqueConstraint(django.db.models.functions.text.Lower('username'), name='accounts_user_username_ci_unique', violation_error_message='A user with that username already exists.'),
        ),
        migrations.CreateModel(
            name='AuthFailure',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('scope', models.CharField(choices=[('login', 'password'), ('reset', 'recovery code')], max_length=5)),
                ('key', models.CharField(max_length=64)),
                ('failed_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'indexes': [models.Index(fields=['scope', 'key', 'failed_at'], name='authfailure_window_idx')],
            },
        ),
    ]
