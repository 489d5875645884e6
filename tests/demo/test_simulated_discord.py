"""The simulated Discord works with the real, unmodified discord.py client."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import discord
import pytest
import yarl
from discord.ext import commands

from aurora.demo.simulation.server import SimulatedDiscord

T = TypeVar("T")
RunBot = Callable[[discord.Client, str], "BotThread"]
wait_for = SimulatedDiscord.wait_for


@contextmanager
def use_fake(fake: SimulatedDiscord) -> Iterator[SimulatedDiscord]:
    """Point discord.py's REST base and default gateway at ``fake``; restore both afterwards."""
    old = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield fake
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old


def _intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.members = True
    return intents


class _Events:
    """Client events recorded from the bot loop, read from the test thread."""

    def __init__(self) -> None:
        self.names: list[str] = []  # list.append is atomic; the test thread only reads

    def count(self, name: str) -> int:
        return self.names.count(name)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Replaces discord.py's 5 s sleep before every non-initial IDENTIFY."""

    async def on_ready(self) -> None:
        self.names.append("ready")

    async def on_resumed(self) -> None:
        self.names.append("resumed")

    async def on_shard_ready(self, shard_id: int) -> None:
        self.names.append(f"shard_ready:{shard_id}")


class Bot(_Events, commands.Bot):
    def __init__(self) -> None:
        _Events.__init__(self)
        commands.Bot.__init__(self, command_prefix=commands.when_mentioned, intents=_intents(),
                              guild_ready_timeout=0.05)


class ShardedClient(_Events, discord.AutoShardedClient):
    def __init__(self, shard_count: int) -> None:
        _Events.__init__(self)
        discord.AutoShardedClient.__init__(self, intents=_intents(), shard_count=shard_count,
                                           guild_ready_timeout=0.05)


class BotThread:
    """Runs a client on its own loop in a background thread, as the dashboard does."""

    def __init__(self, client: discord.Client, token: str) -> None:
        self.client = client
        self.loop = asyncio.new_event_loop()
        self.task = self.loop.create_task(self._main(token))
        self.thread = threading.Thread(target=self._run, name="bot", daemon=True)
        self.thread.start()

    async def _main(self, token: str) -> None:
        async with self.client:  # without it the close task stays pending and stop() hangs
            await self.client.start(token)

    stopped = False

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(asyncio.wait([self.task]))  # an error stays on the task
        self.loop.close()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the bot's loop: discord caches are plain dicts mutated there."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(2)

    def stop(self) -> None:
        """Close the client, join the thread, and re-raise whatever ended the client (once)."""
        if self.stopped:
            return
        self.stopped = True
        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.client.close(), self.loop).result(5)
        self.thread.join(5)
        assert not self.thread.is_alive(), "bot thread did not stop"
        if not self.task.cancelled() and (error := self.task.exception()) is not None:
            raise error


@pytest.fixture
def fake() -> Iterator[SimulatedDiscord]:
    with SimulatedDiscord(guilds=3, members=4) as fake, use_fake(fake):
        yield fake


@pytest.fixture
def run_bot() -> Iterator[RunBot]:
    """Start clients in background threads; stop them all (before the fake) at teardown."""
    started: list[BotThread] = []

    def run(client: discord.Client, token: str) -> BotThread:
        started.append(BotThread(client, token))
        return started[-1]

    yield run
    for bot_thread in started:
        bot_thread.stop()


def test_use_fake_restores_discord_urls() -> None:
    before = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    with SimulatedDiscord() as fake, use_fake(fake):
        assert discord.http.Route.BASE == fake.api_base
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == fake.gateway_url
    assert (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == before


def _get(url: str, token: str | None = None) -> tuple[int, str, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bot {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status, response.headers["Content-Type"], json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], json.load(error)


def test_rest_shapes(fake: SimulatedDiscord) -> None:
    unauthorized = {"message": "401: Unauthorized", "code": 0}
    assert _get(f"{fake.api_base}/users/@me", "nope") == (401, "application/json", unauthorized)
    status, content_type, body = _get(f"{fake.api_base}/gateway/bot", fake.token)
    assert (status, content_type) == (200, "application/json")
    assert (body["url"], body["shards"]) == (fake.gateway_url, 1)
    assert _get(f"{fake.api_base}/nope", fake.token)[:2] == (404, "application/json")
    assert fake.requests == [("GET", "/api/v10/users/@me"), ("GET", "/api/v10/gateway/bot"),
                             ("GET", "/api/v10/nope")]


def test_login_ready_members_latency(fake: SimulatedDiscord, run_bot: RunBot) -> None:
    bot = Bot()
    bt = run_bot(bot, fake.token)
    wait_for(lambda: bot.count("ready"))
    assert bt.call(lambda: len(bot.guilds)) == 3
    members = bt.call(lambda: {g.id: sorted(m.id for m in g.members) for g in bot.guilds})
    assert members == {gid: sorted(fake.member_ids(gid)) for gid in fake.guild_ids}
    assert all(len(ids) == 4 for ids in members.values())
    assert bt.call(lambda: len(bot.users)) == 1 + 3 * 3  # the bot plus 3 distinct members per guild
    assert wait_for(lambda: math.isfinite(bt.call(lambda: bot.latency)))
    assert fake.identify_count == 1 and fake.connection_count == 1
    assert ("GET", "/api/v10/users/@me") in fake.requests
    assert ("GET", "/api/v10/oauth2/applications/@me") in fake.requests
    assert fake.chunk_request_count == 0  # member_count == len(members): nothing to chunk


def test_resume_after_drop_and_abort(fake: SimulatedDiscord, run_bot: RunBot) -> None:
    bot = Bot()
    bt = run_bot(bot, fake.token)
    wait_for(lambda: bot.count("ready"))
    fake.ack_heartbeats = False
    fake.drop_connections(4000)
    wait_for(lambda: bot.count("resumed") == 1)
    assert fake.resume_count == 1 and fake.identify_count == 1
    assert bt.call(lambda: bot.latency) == math.inf  # no ACK since the resume
    fake.ack_heartbeats = True
    wait_for(lambda: math.isfinite(bt.call(lambda: bot.latency)))

    fake.abort_connections()
    guild_id = fake.add_guild(members=2)  # dispatched while the socket is down: replayed on RESUME
    wait_for(lambda: bot.count("resumed") == 2)
    wait_for(lambda: bt.call(lambda: len(bot.guilds)) == 4)
    assert bt.call(lambda: bot.get_guild(guild_id).member_count) == 2
    assert bot.count("ready") == 1 and fake.identify_count == 1


def test_add_and_remove_guild(fake: SimulatedDiscord, run_bot: RunBot) -> None:
    bot = Bot()
    bt = run_bot(bot, fake.token)
    wait_for(lambda: bot.count("ready"))
    guild_id = fake.add_guild(members=5)
    wait_for(lambda: bt.call(lambda: len(bot.guilds)) == 4)
    assert bt.call(lambda: len(bot.get_guild(guild_id).members)) == 5
    fake.remove_guild(fake.guild_ids[0])
    fake.remove_guild(guild_id)
    wait_for(lambda: bt.call(lambda: len(bot.guilds)) == 2)
    assert bt.call(lambda: sorted(g.id for g in bot.guilds)) == sorted(fake.guild_ids)


def test_member_chunk_requests(fake: SimulatedDiscord, run_bot: RunBot) -> None:
    bot = Bot()
    bt = run_bot(bot, fake.token)
    wait_for(lambda: bot.count("ready"))
    guild_id = fake.guild_ids[0]
    wanted = fake.member_ids(guild_id)[2]

    async def chunk() -> tuple[list[int], list[int]]:
        guild = bot.get_guild(guild_id)
        everyone = await guild.chunk()  # sends op 8 REQUEST_GUILD_MEMBERS even for a chunked guild
        some = await guild.query_members(user_ids=[wanted])
        return sorted(m.id for m in everyone), [m.id for m in some]

    everyone, some = asyncio.run_coroutine_threadsafe(chunk(), bt.loop).result(5)
    assert everyone == sorted(fake.member_ids(guild_id)) and some == [wanted]
    assert fake.chunk_request_count == 2


def test_slash_command_in_guild_and_dm(fake: SimulatedDiscord, run_bot: RunBot) -> None:
    bot = Bot()
    completed: list[str] = []

    @bot.tree.command(name="ping", description="Latency check")
    async def ping(interaction: discord.Interaction) -> None:
        where = "dm" if interaction.guild is None else interaction.guild.name
        await interaction.response.send_message(f"pong from {where}")
        if interaction.guild is None:
            await interaction.followup.send("follow-up")
            await interaction.edit_original_response(content="edited")
            original = await interaction.original_response()
            completed.append(f"original:{original.content}")

    @bot.event
    async def on_app_command_completion(interaction: discord.Interaction, command: Any) -> None:
        completed.append(f"{command.name}:{interaction.user.id}")

    bt = run_bot(bot, fake.token)
    wait_for(lambda: bot.count("ready"))
    synced = asyncio.run_coroutine_threadsafe(bot.tree.sync(), bt.loop).result(5)
    assert [c.name for c in synced] == ["ping"] and synced[0].id
    assert ("PUT", f"/api/v10/applications/{fake.application_id}/commands") in fake.requests

    guild_id = fake.guild_ids[0]
    member_id = fake.member_ids(guild_id)[1]
    guild_iid = fake.send_interaction("ping", guild_id=guild_id, user_id=member_id)
    wait_for(lambda: len(completed) == 1)
    assert completed == [f"ping:{member_id}"]
    response = fake.interaction_responses[0]
    assert response["interaction_id"] == guild_iid
    assert response["body"] == {"type": 4, "data": {"tts": False, "content": "pong from Guild 1"}}

    dm_iid = fake.send_interaction("ping", user_id=42 << 22)
    wait_for(lambda: len(completed) == 3)
    assert completed[1:] == ["original:edited", f"ping:{42 << 22}"]
    dm_response = fake.interaction_responses[1]
    assert dm_response["interaction_id"] == dm_iid
    assert dm_response["body"]["data"]["content"] == "pong from dm"
    assert [(f["method"], f["body"]["content"]) for f in fake.followups] == [
        ("POST", "follow-up"), ("PATCH", "edited")]


def test_bad_token_raises_login_failure(fake: SimulatedDiscord, run_bot: RunBot) -> None:
    # In a thread of its own: the main thread may already hold Playwright's event loop.
    bt = run_bot(Bot(), "wrong-token")
    bt.thread.join(5)
    with pytest.raises(discord.LoginFailure):
        bt.stop()
    assert fake.requests == [("GET", "/api/v10/users/@me")]


def test_auto_sharded_client_two_shards(run_bot: RunBot) -> None:
    with SimulatedDiscord(guilds=4, members=2) as fake, use_fake(fake):
        client = ShardedClient(shard_count=2)
        bt = run_bot(client, fake.token)
        wait_for(lambda: client.count("ready"))
        shard_events = sorted(name for name in client.names if name.startswith("shard_ready"))
        assert shard_events == ["shard_ready:0", "shard_ready:1"]
        assert fake.identify_count == 2 and fake.connection_count == 2
        guilds = bt.call(lambda: {g.id: g.shard_id for g in client.guilds})
        assert sorted(guilds) == sorted(fake.guild_ids)
        assert sorted(guilds.values()) == [0, 0, 1, 1]  # Discord's (id >> 22) % 2 split
        bt.stop()  # before the fake goes away
