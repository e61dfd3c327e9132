"""The PostgreSQL backend's health check: free for a healthy connection, still catches a dead one."""

import time
from unittest import mock

import psycopg2
import pytest
from django.db import connection, connections

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the backend under test is PostgreSQL's")


def start_of_request():
    # What Django does for each request when CONN_HEALTH_CHECKS is on.
    connection.health_check_enabled = True
    connection.health_check_done = False
    connection.close_if_health_check_failed()


def test_healthy_connection_is_reused_without_a_round_trip():
    connection.ensure_connection()
    before = connection.connection
    wrapper = type(connections["default"])
    with mock.patch.object(wrapper, "is_usable", side_effect=AssertionError("queried")):
        start_of_request()
    assert connection.connection is before


def test_connection_closed_by_the_server_is_replaced_before_use():
    connection.ensure_connection()
    dead = connection.connection
    with psycopg2.connect(**connection.get_connection_params()) as killer, killer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [dead.get_backend_pid()])
    killer.close()
    time.sleep(0.2)
    start_of_request()
    assert connection.connection is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert connection.connection is not dead
