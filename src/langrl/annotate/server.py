"""The annotation web app (FastAPI): the JSON API of API.md and the server-rendered pages.

The API authenticates with ``Authorization: Bearer TOKEN`` (401 without a valid, unexpired, unrevoked token, 403 for
a disabled annotator) or with a login session. The login page takes the token once and starts a server-side session:
the cookie holds only a random session id (``HttpOnly``, ``SameSite=Strict``, ``Secure`` with ``--secure-cookies``),
and the pages' scripts are authenticated by it. Every state-changing request that a browser could send on its own
(the login form, a cookie-authenticated POST) must carry this server's ``Origin`` (or ``Referer``), else 403; bearer
calls need none, since a browser never adds that header by itself. Export and stats need an admin.
All text is escaped by the templates (Jinja2 autoescape), data for scripts is embedded as JSON with ``<`` escaped, and a
Content-Security-Policy allows only this server's own scripts, so stored text can never run as code.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from langrl.annotate.accounts import DEFAULT_SESSION_TTL_S
from langrl.annotate.agreement import stats as compute_stats
from langrl.annotate.body import parse_json
from langrl.annotate.export import export_records
from langrl.annotate.select import Scorer
from langrl.annotate.store import Storage
from langrl.annotate.validate import DEFAULT_CATEGORIES, KINDS, FeedbackError, check_envelope, check_feedback

HERE = Path(__file__).parent
MAX_BODY = 1 << 20  # bytes in one POST
COOKIE = "langrl_session"
LABELS = {"comparison": "Pairwise", "ranking": "Ranking", "rating": "Rating", "spans": "Spans", "critique": "Critique"}
CATEGORY_LABELS = {"irrelevant": "Irrelevant / redundant", "untruthful": "Untruthful / unverifiable"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.field, self.headers = status, field, headers


def _json_for_script(obj) -> Markup:
    """JSON safe to place inside ``<script type="application/json">`` (no ``</script>`` can close it early)."""
    text = json.dumps(obj, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def create_app(storage: Storage, *, select: str = "round-robin", target: int = 1, overlap: float = 1.0,
               lease_s: float = 600.0, scorer: Scorer | None = None, scorer_name: str = "rm", kinds=KINDS,
               categories=DEFAULT_CATEGORIES, seed: int | None = None,
               session_ttl_s: float = DEFAULT_SESSION_TTL_S, secure_cookies: bool = False,
               origins=()) -> FastAPI:
    """The app over ``storage``; ``select`` .. ``scorer_name`` choose what to ask next (see ``select.py``).

    ``session_ttl_s``: how long a login lasts; ``secure_cookies``: mark the cookie ``Secure`` and accept an
    ``https://`` Origin for this host (the server is behind a TLS proxy); ``origins``: more origins to accept on form
    posts (``https://annotate.example.org``, when a proxy rewrites the Host header).
    """
    kinds, categories = tuple(kinds), tuple(categories)
    extra_origins = {o.rstrip("/").lower() for o in origins}
    rng = random.Random(seed)
    app = FastAPI(title="langrl annotate", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))
    env.filters["script_json"] = _json_for_script
    pick = {"select": select, "target": target, "overlap": overlap, "lease_s": lease_s, "scorer": scorer,
            "scorer_name": scorer_name}

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        # same-origin (not no-referrer): with no-referrer a browser sends "Origin: null" on same-origin POSTs too,
        # and the Origin check below could not tell them from cross-origin ones
        response.headers["Referrer-Policy"] = "same-origin"
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(ApiError)
    async def api_error(_request, e: ApiError):
        return JSONResponse({"error": str(e), "field": e.field}, status_code=e.status, headers=e.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request, e: StarletteHTTPException):
        return JSONResponse({"error": str(e.detail), "field": None}, status_code=e.status_code, headers=e.headers)

    @app.exception_handler(FeedbackError)
    async def feedback_error(_request, e: FeedbackError):
        return JSONResponse({"error": str(e), "field": e.field}, status_code=e.status)

    def same_origin(request: Request) -> bool:
        """Whether the browser says this request comes from one of our own pages (Origin, else Referer)."""
        claimed = request.headers.get("origin")
        if not claimed or claimed == "null":
            parts = urlsplit(request.headers.get("referer") or "")
            claimed = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None
        if not claimed:
            return False
        host = request.headers.get("host", "").lower()
        allowed = {f"{request.url.scheme}://{host}", *extra_origins} | ({f"https://{host}"} if secure_cookies else set())
        return claimed.lower() in allowed

    def token_annotator(token: str) -> dict:
        who = storage.annotator_for_token(token)
        bearer = {"WWW-Authenticate": "Bearer"}
        if who is None:
            raise ApiError(401, "unknown token", headers=bearer)
        if who["revoked"]:
            raise ApiError(401, f"the token of {who['name']!r} was revoked; ask for a new one", headers=bearer)
        if who["expired"]:
            raise ApiError(401, f"the token of {who['name']!r} has expired; ask for a new one", headers=bearer)
        if who["disabled"]:
            raise ApiError(403, f"annotator {who['name']!r} is disabled")
        return who

    def api_annotator(request: Request, admin: bool = False) -> dict:
        header = request.headers.get("authorization")
        session = request.cookies.get(COOKIE)
        if header is not None or not session:
            scheme, _, token = (header or "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise ApiError(401, "expected an 'Authorization: Bearer TOKEN' header (or a login session)",
                               headers={"WWW-Authenticate": "Bearer"})
            who = token_annotator(token.strip())
        else:
            if request.method not in ("GET", "HEAD") and not same_origin(request):
                raise ApiError(403, "refused a cross-origin request (its Origin is not this server)")
            who = storage.annotator_for_session(session)
            if who is None:
                raise ApiError(401, "the login session has ended; log in again", headers={"WWW-Authenticate": "Bearer"})
            if who["disabled"]:
                raise ApiError(403, f"annotator {who['name']!r} is disabled")
        if admin and not who["admin"]:
            raise ApiError(403, f"{who['name']!r} is not an admin; export and stats need an admin "
                                "(langrl annotate set-role --name NAME --role admin)")
        return who

    def kind_param(request: Request) -> str:
        kind = request.query_params.get("kind")
        if kind not in kinds:
            raise ApiError(422, f"expected kind in {list(kinds)}, got {kind!r}", "kind")
        return kind

    def shown(item: dict, indices) -> dict:
        return {"item_id": item["item_id"], "prompt": item["prompt"],
                "responses": [item["responses"][i] for i in indices], "indices": list(indices)}

    # ----------------------------------------------------------------------------------------------- JSON API
    @app.get("/api/me")
    def api_me(request: Request):
        who = api_annotator(request)
        return {"name": who["name"], "kinds": list(kinds), "categories": list(categories)}

    @app.get("/api/next")
    def api_next(request: Request):
        who, kind = api_annotator(request), kind_param(request)
        got = storage.next_unit(who["id"], kind, rng=rng, **pick)
        if got is None:
            return Response(status_code=204)
        return {"kind": kind, **shown(*got)}

    @app.post("/api/feedback")
    async def api_feedback(request: Request):
        who = await run_in_threadpool(api_annotator, request)
        payload = await run_in_threadpool(parse_json, await _read_body(request))  # 4xx for deep nesting, huge numbers
        item_id, kind, client_id, spent = check_envelope(payload, kinds)
        item = await run_in_threadpool(storage.get_item, item_id)
        if item is None:
            raise ApiError(404, f"unknown item {item_id!r}", "item_id")
        indices, fields = check_feedback(kind, payload, item["responses"], categories)
        new_id, created = await run_in_threadpool(storage.submit, who["id"], item, kind, client_id, indices, fields,
                                                  spent)
        return JSONResponse({"id": new_id, "created": created}, status_code=201 if created else 200)

    @app.get("/api/items/{item_id:path}")
    def api_item(item_id: str, request: Request):
        api_annotator(request)
        item = storage.get_item(item_id)
        if item is None:
            raise ApiError(404, f"unknown item {item_id!r}", "item_id")
        return {"item_id": item["item_id"], "prompt": item["prompt"], "responses": item["responses"],
                "judgements": storage.judgement_counts(item["pk"])}

    @app.get("/api/export")
    def api_export(request: Request):
        api_annotator(request, admin=True)
        return _jsonl(export_records(storage, kind_param(request)))

    @app.get("/api/stats")
    def api_stats(request: Request):
        api_annotator(request, admin=True)
        return compute_stats(storage, kinds, categories)

    # -------------------------------------------------------------------------------------------------- pages
    def page(name: str, status: int = 200, who: dict | None = None, **ctx) -> HTMLResponse:
        ctx.setdefault("kind", None)
        html = env.get_template(name).render(kinds=kinds, labels=LABELS, annotator=who and who["name"],
                                             admin=bool(who and who["admin"]), **ctx)
        return HTMLResponse(html, status_code=status)

    def page_annotator(request: Request, admin: bool = False) -> dict | Response:
        session = request.cookies.get(COOKIE)
        who = storage.annotator_for_session(session) if session else None
        if who is None:
            return RedirectResponse("/login", status_code=303)
        if who["disabled"]:
            return page("message.html", 403, title="Disabled", message=f"The annotator {who['name']} is disabled.")
        if admin and not who["admin"]:
            return page("message.html", 403, who, title="Admins only",
                        message="Exporting feedback needs an admin; ask one, or run langrl annotate export.")
        return who

    @app.get("/login")
    def login_page():
        return page("login.html", title="Log in")

    @app.post("/login")
    async def login(request: Request):
        if not same_origin(request):
            return page("login.html", 403, title="Log in", error="Refused a login form sent from another site.")
        body = (await _read_body(request)).decode("utf-8", "replace")
        token = (parse_qs(body).get("token") or [""])[0].strip()
        try:
            who = await run_in_threadpool(token_annotator, token)
        except ApiError as e:
            why = str(e)
            msg = "That token is not valid." if why == "unknown token" else why[0].upper() + why[1:] + "."
            return page("login.html", e.status, title="Log in", error=msg)
        old = request.cookies.get(COOKIE)
        if old:
            await run_in_threadpool(storage.delete_session, old)
        sid, _ = await run_in_threadpool(storage.create_session, who["id"], session_ttl_s)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, sid, max_age=int(session_ttl_s), path="/", httponly=True, samesite="strict",
                            secure=secure_cookies)
        return response

    @app.get("/logout")
    def logout(request: Request):
        session = request.cookies.get(COOKIE)
        if session:
            storage.delete_session(session)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=secure_cookies)
        return response

    @app.get("/")
    def index(request: Request):
        who = page_annotator(request)
        if isinstance(who, Response):
            return who
        open_units = {k: storage.open_units(who["id"], k, target=target, overlap=overlap, lease_s=lease_s)
                      for k in kinds}
        return page("index.html", who=who, title="Tasks", open_units=open_units)

    @app.get("/annotate/{kind}")
    def annotate(kind: str, request: Request):
        who = page_annotator(request)
        if isinstance(who, Response):
            return who
        if kind not in kinds:
            return page("message.html", 404, who, title="Not found",
                        message=f"There is no task kind {kind!r}.")
        got = storage.next_unit(who["id"], kind, rng=rng, **pick)
        if got is None:
            return page("message.html", who=who, title=LABELS[kind], kind=kind,
                        message=f"Nothing left to do for {LABELS[kind].lower()} — thank you!")
        item = shown(*got)
        left = storage.open_units(who["id"], kind, target=target, overlap=overlap, lease_s=lease_s)
        data = {**item, "kind": kind, "categories": [[c, CATEGORY_LABELS.get(c, c)] for c in categories]}
        return page(f"{kind}.html", who=who, title=LABELS[kind], kind=kind, item=item, data=data,
                    left=left, letters="ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                    categories=[(c, CATEGORY_LABELS.get(c, c)) for c in categories])

    @app.get("/export")
    def export_page(request: Request):
        who = page_annotator(request, admin=True)
        if isinstance(who, Response):
            return who
        counts = {k: len(storage.judgements(k)) for k in kinds}
        return page("export.html", who=who, title="Export", counts=counts)

    @app.get("/export/{kind}.jsonl")
    def export_download(kind: str, request: Request):
        who = page_annotator(request, admin=True)
        if isinstance(who, Response):
            return who
        if kind not in kinds:
            return Response(f"unknown kind {kind!r}\n", status_code=404, media_type="text/plain")
        response = _jsonl(export_records(storage, kind))
        response.headers["Content-Disposition"] = f'attachment; filename="{kind}.jsonl"'
        return response

    return app


def _jsonl(records: list[dict]) -> Response:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    return Response(text, media_type="application/x-ndjson; charset=utf-8")


async def _read_body(request: Request) -> bytes:
    """The request body, refused with 413 past :data:`MAX_BODY` bytes (checked while reading, not only by header)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise ApiError(413, f"request body over {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError(413, f"request body over {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
