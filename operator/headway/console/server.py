"""The web console's server: the page, and a small JSON + Server-Sent-Events API.

It has no privileges of its own. Every Kubernetes call is made with the signed-in
person's bearer token, kept in an HttpOnly, SameSite=Strict cookie (Secure behind TLS),
so the API server enforces that person's RBAC and records them as ``requestedBy``.
Writes also need the CSRF token (double submit: a readable cookie echoed in a header).
Tokens never appear in URLs or logs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from headway.console import views
from headway.core.vocabulary import LABEL_EXECUTION
from headway.models.base import API_VERSION
from headway.shell import store
from headway.shell.access import recovery_refused
from headway.shell.kube import Kube, KubeError, Server, path_of

JSON = dict[str, Any]
log = logging.getLogger("headway.console")
TOKEN_COOKIE, CSRF_COOKIE, CSRF_HEADER = "headway_token", "headway_csrf", "X-CSRF-Token"
STATIC = Path(__file__).parent / "static"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _kube_error(error: KubeError, what: str) -> web.Response:
    message = error.message or error.body
    if error.status == 401:
        return _error(401, "your sign-in has expired or the token is not valid: sign in again")
    if error.status == 0:
        return _error(502, "the Kubernetes API server cannot be reached")
    return _error(error.status if 400 <= error.status < 600 else 500, f"{what}: {message}")


class Console:
    """The routes; ``server`` says where the API server is (never a credential)."""

    def __init__(self, server: Server, secure_cookies: bool) -> None:
        self.server, self.secure = server, secure_cookies

    def kube(self, request: web.Request) -> Kube:
        token = request.cookies.get(TOKEN_COOKIE)
        if not token:
            raise web.HTTPUnauthorized(
                text=json.dumps({"error": "not signed in"}), content_type="application/json"
            )
        return Kube.with_token(self.server, token)

    @staticmethod
    def check_csrf(request: web.Request) -> None:
        cookie, header = request.cookies.get(CSRF_COOKIE), request.headers.get(CSRF_HEADER)
        if not cookie or not header or not secrets.compare_digest(cookie, header):
            raise web.HTTPForbidden(
                text=json.dumps({"error": "missing or wrong CSRF token: reload the page"}),
                content_type="application/json",
            )

    async def call(self, what: str, action: Callable[[], Any]) -> Any:
        try:
            return await asyncio.to_thread(action)
        except KubeError as error:
            raise _HandledError(_kube_error(error, what)) from None

    # --- sign-in ----------------------------------------------------------------------

    async def login(self, request: web.Request) -> web.Response:
        self.check_csrf(request)
        body = await _json_body(request)
        token = str(body.get("token") or "").strip()
        if not token:
            return _error(400, "paste a token (for example from `kubectl create token NAME`)")
        user = await self.user(Kube.with_token(self.server, token))
        response = web.json_response({"user": user})
        response.set_cookie(
            TOKEN_COOKIE, token, httponly=True, samesite="Strict", secure=self.secure, path="/"
        )
        return response

    async def logout(self, request: web.Request) -> web.Response:
        self.check_csrf(request)
        response = web.json_response({"user": None})
        response.del_cookie(TOKEN_COOKIE, path="/")
        return response

    async def whoami(self, request: web.Request) -> web.Response:
        return web.json_response({"user": await self.user(self.kube(request))})

    async def user(self, kube: Kube) -> str:
        """Who the token belongs to (a SelfSubjectReview): 401 when it is not valid."""
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        path = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
        who = await self.call("checking the token", lambda: kube.create(path, review))
        return str((who.get("status") or {}).get("userInfo", {}).get("username", ""))

    # --- reading ----------------------------------------------------------------------

    async def executions(self, request: web.Request) -> web.Response:
        kube, ns = self.kube(request), request.match_info["ns"]
        found = await self.call(
            f'listing executions in namespace "{ns}"',
            lambda: kube.get(path_of(API_VERSION, "executions", ns)),
        )
        return web.json_response([views.summary(e) for e in found["items"]])

    async def schedules(self, request: web.Request) -> web.Response:
        kube, ns = self.kube(request), request.match_info["ns"]
        found = await self.call(
            f'listing schedules in namespace "{ns}"',
            lambda: kube.get(path_of(API_VERSION, "schedules", ns)),
        )
        executions = await self.call(
            f'listing executions in namespace "{ns}"',
            lambda: kube.get(path_of(API_VERSION, "executions", ns)),
        )
        return web.json_response(views.schedules_view(found["items"], executions["items"]))

    async def execution(self, request: web.Request) -> web.Response:
        kube, ns, name = self.kube(request), request.match_info["ns"], request.match_info["name"]
        found = await self.call(
            f'execution "{name}"',
            lambda: store.with_pages(kube, kube.get(path_of(API_VERSION, "executions", ns, name))),
        )
        return web.json_response(views.detail(found))

    async def preview(self, request: web.Request) -> web.Response:
        """What a recovery would rerun and keep, by the engine's rules, before asking."""
        kube, ns, name = self.kube(request), request.match_info["ns"], request.match_info["name"]
        found = await self.call(
            f'execution "{name}"', lambda: kube.get(path_of(API_VERSION, "executions", ns, name))
        )
        query = request.rel_url.query
        shown = views.preview_of(
            found, query.get("mode", "Flow"), query.get("task"), query.get("items")
        )
        if isinstance(shown, str):
            return _error(400, shown)
        return web.json_response(shown)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """The Execution now, then on every change (from a watch), as Server-Sent Events."""
        kube, ns, name = self.kube(request), request.match_info["ns"], request.match_info["name"]
        found = await self.call(
            f'execution "{name}"', lambda: kube.get(path_of(API_VERSION, "executions", ns, name))
        )
        requests_path = path_of(API_VERSION, "recoveryrequests", ns)
        selector = f"{LABEL_EXECUTION}={name}"
        try:  # the Execution's requests, followed too: a request's fate is in its status
            listed = await asyncio.to_thread(kube.get, requests_path, labelSelector=selector)
        except KubeError:
            listed = None  # not allowed to see them: the page shows the Execution only
        requests = {r["metadata"]["name"]: r for r in (listed or {}).get("items", [])}
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        one = {"fieldSelector": f"metadata.name={name}"}
        version = found["metadata"]["resourceVersion"]
        watches = [Watch(path_of(API_VERSION, "executions", ns), one, version)]
        if listed is not None:
            version = listed["metadata"]["resourceVersion"]
            watches.append(Watch(requests_path, {"labelSelector": selector}, version))
        execution = await asyncio.to_thread(store.with_pages, kube, found)
        try:
            await _send(response, views.detail(execution, list(requests.values())))
            async for event in _watch(kube, watches):
                obj = event["object"]
                if obj.get("kind") == "RecoveryRequest":
                    requests[obj["metadata"]["name"]] = obj
                elif event["type"] == "DELETED":
                    break
                else:
                    execution = await asyncio.to_thread(store.with_pages, kube, obj)
                await _send(response, views.detail(execution, list(requests.values())))
        except ConnectionResetError:
            pass  # the page went away
        return response

    async def attempts(self, request: web.Request) -> web.Response:
        kube, ns = self.kube(request), request.match_info["ns"]
        name, task = request.match_info["name"], request.match_info["task"]
        execution = await self.call(
            f'execution "{name}"', lambda: kube.get(path_of(API_VERSION, "executions", ns, name))
        )
        selector = (
            f"headway.dev/execution-uid={execution['metadata']['uid']},headway.dev/task={task}"
        )
        item = request.rel_url.query.get("item")
        if item is not None:
            if not item.isdigit():
                return _error(400, f"item must be an item number, not {item!r}")
            selector += f",headway.dev/item={item}"
        jobs = await self.call(
            "listing the task's Jobs",
            lambda: kube.get(path_of("batch/v1", "jobs", ns), labelSelector=selector),
        )
        pods = await self.call(
            "listing the task's pods",
            lambda: kube.get(path_of("v1", "pods", ns), labelSelector=selector),
        )
        return web.json_response(views.attempts(jobs["items"], pods["items"]))

    async def logs(self, request: web.Request) -> web.Response:
        kube, ns = self.kube(request), request.match_info["ns"]
        pod = request.match_info["pod"]
        text = await self.call(
            f'logs of pod "{pod}"',
            lambda: kube.get_text(path_of("v1", "pods", ns, pod) + "/log"),
        )
        return web.Response(text=text, content_type="text/plain")

    async def permissions(self, request: web.Request) -> web.Response:
        """Whether the person may recover here (a SelfSubjectAccessReview)."""
        kube, ns = self.kube(request), request.match_info["ns"]
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": ns,
                    "verb": "create",
                    "group": "headway.dev",
                    "resource": "recoveryrequests",
                }
            },
        }
        path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        result = await self.call("checking permissions", lambda: kube.create(path, review))
        attributes = review["spec"]["resourceAttributes"]  # type: ignore[index]
        attributes.update(verb="patch", resource="executions")
        patching = await self.call("checking permissions", lambda: kube.create(path, review))
        return web.json_response(
            {
                "recover": bool(result["status"].get("allowed")),
                "hold": bool(patching["status"].get("allowed")),
            }
        )

    async def hold(self, request: web.Request) -> web.Response:
        """Stop, suspend or resume, as the person: a patch of the Execution's spec."""
        self.check_csrf(request)
        kube, ns, name = self.kube(request), request.match_info["ns"], request.match_info["name"]
        patch = views.hold_patch(await _json_body(request))
        if isinstance(patch, str):
            return _error(400, patch)
        try:
            await asyncio.to_thread(kube.patch, path_of(API_VERSION, "executions", ns, name), patch)
        except KubeError as error:
            if error.status == 403:
                return _error(
                    403,
                    f"you may not change execution {name!r}: it takes permission to patch "
                    f'executions.headway.dev in namespace "{ns}" (the headway-run role)',
                )
            return _kube_error(error, f'execution "{name}"')
        return web.json_response({"done": True})

    # --- acting -----------------------------------------------------------------------

    async def recover(self, request: web.Request) -> web.Response:
        self.check_csrf(request)
        kube, ns, name = self.kube(request), request.match_info["ns"], request.match_info["name"]
        body = await _json_body(request)
        spec = views.request_spec(name, body)
        if isinstance(spec, str):
            return _error(400, spec)
        manifest = {
            "apiVersion": API_VERSION,
            "kind": "RecoveryRequest",
            "metadata": {"generateName": f"{name[:40]}-console-"},
            "spec": spec,
        }
        try:
            created = await asyncio.to_thread(
                kube.create, path_of(API_VERSION, "recoveryrequests", ns), manifest
            )
        except KubeError as error:
            refused = recovery_refused(error, ns)
            return (
                _error(403, refused)
                if refused
                else _kube_error(error, "creating the recoveryrequest")
            )
        return web.json_response({"name": created["metadata"]["name"]})

    # --- the page ---------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(STATIC / "index.html")
        if not request.cookies.get(CSRF_COOKIE):
            response.set_cookie(
                CSRF_COOKIE, secrets.token_urlsafe(24), samesite="Strict", secure=self.secure,
                path="/",
            )  # fmt: skip
        return response


class _HandledError(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__(response.text)
        self.response = response


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A Kubernetes refusal becomes a clear JSON error; anything else a generic one
    (logged without the request's cookies)."""
    try:
        return await handler(request)
    except _HandledError as error:
        return error.response
    except web.HTTPException:
        raise
    except Exception:
        log.exception("console: %s %s failed", request.method, request.path)
        return _error(500, "the console failed to do that; its log says why")


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


async def _json_body(request: web.Request) -> JSON:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise _HandledError(_error(400, "the request body is not JSON")) from None
    if not isinstance(body, dict):
        raise _HandledError(_error(400, "the request body must be a JSON object"))
    return body


async def _send(response: web.StreamResponse, data: JSON) -> None:
    await response.write(f"data: {json.dumps(data)}\n\n".encode())


@dataclass(frozen=True)
class Watch:
    """One collection to watch, narrowed by ``query``, from ``version`` on."""

    collection: str
    query: Mapping[str, str]
    version: str


async def _watch(kube: Kube, watches: list[Watch]) -> AsyncIterator[JSON]:
    """Watch events of every ``watches``, merged, each from a thread, until one ends (each
    re-watches on its timeouts)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[JSON | None] = asyncio.Queue()
    stop = False

    def pump(watch: Watch) -> None:
        current = watch.version
        try:
            while not stop:
                for event in kube.watch(watch.collection, timeout_seconds=50,
                                        resourceVersion=current, **watch.query):  # fmt: skip
                    if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                        current = event["object"]["metadata"]["resourceVersion"]
                        loop.call_soon_threadsafe(queue.put_nowait, event)
                    if stop:
                        return
        except KubeError as error:
            log.info("console watch of %s ended: %s", watch.collection, error.status)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    # Threads of their own, not the shared pool: a page may hold its stream for hours.
    for watch in watches:
        threading.Thread(target=pump, args=(watch,), daemon=True, name="console-watch").start()
    try:
        while (event := await queue.get()) is not None:
            yield event
    finally:
        stop = True  # the threads end at their watch's next event or timeout


def make_app(server: Server, secure_cookies: bool = False) -> web.Application:
    console = Console(server, secure_cookies)
    app = web.Application(middlewares=[_headers, _errors])
    api = "/api/namespaces/{ns}"
    app.router.add_get("/", console.page)
    app.router.add_static("/static/", STATIC, show_index=False)
    app.router.add_post("/api/login", console.login)
    app.router.add_post("/api/logout", console.logout)
    app.router.add_get("/api/whoami", console.whoami)
    app.router.add_get(f"{api}/executions", console.executions)
    app.router.add_get(f"{api}/schedules", console.schedules)
    app.router.add_get(f"{api}/executions/{{name}}", console.execution)
    app.router.add_get(f"{api}/executions/{{name}}/stream", console.stream)
    app.router.add_get(f"{api}/executions/{{name}}/preview", console.preview)
    app.router.add_get(f"{api}/executions/{{name}}/tasks/{{task}}/attempts", console.attempts)
    app.router.add_get(f"{api}/pods/{{pod}}/log", console.logs)
    app.router.add_get(f"{api}/permissions", console.permissions)
    app.router.add_post(f"{api}/executions/{{name}}/recover", console.recover)
    app.router.add_post(f"{api}/executions/{{name}}/hold", console.hold)
    return app


def run(server: Server, host: str, port: int, secure_cookies: bool) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    web.run_app(make_app(server, secure_cookies), host=host, port=port, access_log=None)
