"""The judge's half of a sandboxed check: it never runs the candidate's code. It evaluates the tests with every name the
candidate defined standing for a proxy (:class:`Remote` inside :func:`judge`) whose calls, attributes, iteration, len,
bool, [] and str are requests to the worker, and writes one JSON line per event to its own stdout (the verdict, read
only by the parent).

Part of one program with ``sandbox_harness.py`` (``set_limits``, ``encode``/``decode``, ``kind``, ``describe``,
``MAX_LINE`` and the imports come from there) and ``sandbox_worker.py``; see :mod:`langrl.rewards.sandbox_harness`.
"""

class WorkerGone(BaseException):
    """The candidate's process hung up (it exited, crashed or was killed); not catchable by ``except Exception``."""


class ProtocolError(Exception):
    pass


class CandidateError(Exception):
    """An exception of the candidate's own class (only built-in exception types cross by type)."""


NO_IMPORT = {"antigravity", "this", "idlelib", "turtle", "turtledemo", "tkinter", "__hello__", "__phello__"}


def judge(cfg, chan_fd):
    """Evaluate the tests against the worker's answers; one JSON line per event on the original stdout."""
    import importlib

    set_limits(cfg["limits"])
    verdict = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # a test's print() goes to stderr, never into the verdict
    requests = os.fdopen(chan_fd, "w", encoding="utf-8")
    replies = os.fdopen(0, "rb")

    def emit(**kw):
        verdict.write(json.dumps(kw) + "\n")
        verdict.flush()

    try:
        compile(cfg["code"], "solution.py", "exec")
    except Exception as e:  # noqa: BLE001 - SyntaxError, ValueError (NUL bytes), RecursionError (deep nesting)
        emit(event="syntax_error", detail=describe(e))
        return
    remotes, seq = {}, [0]

    class Remote:
        """A candidate object that is not data: calls, attributes, iteration, len, bool, [] and str go to the worker."""

        __slots__ = ("_h",)

        def __init__(self, h):
            object.__setattr__(self, "_h", h)

        def __call__(self, *args, **kwargs):
            return rpc("call", h=self._h, args=list(args), kwargs=list(kwargs.items()), sync=args)

        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return rpc("getattr", h=self._h, name=name)

        def __iter__(self):
            return rpc("iter", h=self._h)

        def __next__(self):
            return rpc("next", h=self._h)

        def __len__(self):
            n = rpc("len", h=self._h)
            if type(n) is not int or n < 0:
                raise TypeError("__len__ of the candidate's object did not give a non-negative int")
            return n

        def __bool__(self):
            b = rpc("bool", h=self._h)
            if type(b) is not bool:
                raise TypeError("__bool__ of the candidate's object did not give a bool")
            return b

        def __getitem__(self, key):
            return rpc("getitem", h=self._h, key=key)

        def __str__(self):
            s = rpc("str", h=self._h)
            if type(s) is not str:
                raise TypeError("__str__ of the candidate's object did not give a str")
            return s

        def __repr__(self):
            return f"<candidate object #{self._h}>"

    def remote(tag, v):
        if tag == "m":  # a module: the judge's own copy of a standard-library one, else a handle
            name, v = v
            if type(name) is str and name.partition(".")[0] in sys.stdlib_module_names - NO_IMPORT:
                try:
                    return importlib.import_module(name)
                except Exception:  # noqa: BLE001
                    pass
        if type(v) is not int:
            raise ValueError("malformed handle")
        return remotes.setdefault(v, Remote(v))

    def outgoing(x):
        if type(x) is Remote:
            return {"h": x._h}
        raise TypeError(f"sandbox: only data (or the candidate's own objects) can be passed to the candidate's code, "
                        f"not {type(x).__name__}")

    def rpc(op, sync=(), **kw):
        seq[0] += 1
        for k in ("args", "kwargs", "key"):
            if k in kw:
                kw[k] = encode(kw[k], outgoing)
        try:
            requests.write(json.dumps(dict(kw, op=op, id=seq[0])) + "\n")
            requests.flush()
        except OSError:
            raise WorkerGone() from None
        line = replies.readline(MAX_LINE)
        if not line:
            raise WorkerGone()
        try:
            rep = json.loads(line)
            if type(rep) is not dict or rep.get("id") != seq[0]:
                raise ValueError("reply out of order")
            if "raise" in rep:
                name, msg, k = (str(p)[:500] for p in rep["raise"])
            else:
                value = decode(rep["ok"], remote) if "ok" in rep else None
                synced = [None if s is None else decode(s, remote) for s in rep.get("sync", [])]
        except (ValueError, TypeError, KeyError, RecursionError, MemoryError) as e:
            raise ProtocolError(f"sandbox: unreadable reply from the candidate's process ({describe(e)[:200]})")
        if rep.get("stop"):
            raise StopIteration
        if "raise" in rep:
            cls = getattr(builtins, name, None)
            if not (isinstance(cls, type) and issubclass(cls, Exception)):
                cls, msg = CandidateError, f"{name}: {msg}"
            try:
                err = cls(msg)
            except Exception:  # noqa: BLE001 - a built-in exception with a different constructor
                err = CandidateError(f"{name}: {msg}")
            err.sandbox_kind = k if k in ("memory", "blocked") else "error"
            raise err
        for a, s in zip(sync, synced):  # in-place changes to list/dict/set/bytearray arguments
            if type(a) is type(s) and type(a) in (list, bytearray):
                a[:] = s
            elif type(a) is type(s) and type(a) in (dict, set):
                a.clear()
                a.update(s)
        return value

    builtin_names = set(dir(builtins))

    class Names(dict):
        """The tests' globals: their own names first, then builtins, then the candidate's (fetched on each use)."""

        def __missing__(self, name):
            if name in builtin_names or name.startswith("__"):
                raise KeyError(name)
            return rpc("get", name=name)

    def verdict_kind(e):
        return getattr(e, "sandbox_kind", None) or kind(e)

    try:
        first = json.loads(replies.readline(MAX_LINE) or b"null")
    except ValueError:
        first = {"load_error": "error", "detail": "unreadable first message from the candidate's process"}
    if type(first) is not dict or not first.get("ready"):
        gone = type(first) is not dict or "load_error" not in first
        detail = "" if gone else str(first.get("detail", ""))[:500]
        k = "crash" if gone else str(first.get("load_error"))
        emit(event="load_error", kind=k, detail=detail, gone=gone)
        return
    g = Names(__builtins__=builtins, __name__="__main__")
    if cfg["setup"]:
        try:
            exec(compile(cfg["setup"], "setup", "exec"), g)
        except WorkerGone:
            emit(event="load_error", kind="crash", detail="", gone=True)
            return
        except BaseException as e:  # noqa: BLE001
            emit(event="load_error", kind=verdict_kind(e), detail="setup: " + describe(e), gone=False)
            return
    for i, test in enumerate(cfg["tests"]):
        try:
            code = compile(test, f"test_{i}", "exec")
        except (SyntaxError, ValueError) as e:
            emit(event="test", i=i, ok=False, kind="test_syntax_error", detail=describe(e))
            continue
        try:
            exec(code, g)
            emit(event="test", i=i, ok=True)
        except WorkerGone:
            emit(event="test", i=i, ok=False, kind="crash", detail="the candidate's process ended")
            emit(event="worker_gone", i=i)
            return
        except BaseException as e:  # noqa: BLE001 - a failing test, whatever it raised
            emit(event="test", i=i, ok=False, kind=verdict_kind(e), detail=describe(e))
    emit(event="done")
