"""Shared code of the fake `kind`, `k3d` and `helm` executables (Python 3, stdlib only).

Environment (set by tests/it/world.rs):
  FAKE_HOME        the fakes' state folder: log.jsonl, clusters.json, releases.json, scenario.json
  FAKE_KUBE_URL    the fake Kubernetes API (http://127.0.0.1:PORT) written into kubeconfig contexts
  KUBECONFIG       the kubeconfig the fakes add contexts to (written as JSON, which is valid YAML)
  FAKE_NODE_IMAGE  the local image every node container runs (never pulled)
  FAKE_LABEL       key=value label put on every container/network, so a test can clean up its own

scenario.json (re-read on every call):
  {"fail": {"kind create": "<stderr text>"}}   print the text to stderr, exit 1
  {"hang": ["helm upgrade"]}                   log, write FAKE_HOME/hang.pid, sleep forever
  {"slow": {"k3d cluster create": 2.5}}        sleep that many seconds, then proceed
A key is the tool followed by its first words (the leading arguments that are not flags); the
longest matching key wins.
"""

import contextlib
import fcntl
import json
import os
import re
import subprocess
import sys
import time

# ----------------------------------------------------------------------------- environment


def home():
    h = os.environ.get("FAKE_HOME")
    if not h:
        sys.stderr.write("fake: FAKE_HOME is not set (the fakes keep their state there)\n")
        sys.exit(2)
    os.makedirs(h, exist_ok=True)
    return h


def path(name):
    return os.path.join(home(), name)


def kube_url():
    return os.environ.get("FAKE_KUBE_URL", "http://127.0.0.1:1")


def node_image():
    return os.environ.get("FAKE_NODE_IMAGE", "devflow-test-node:1")


def world_label():
    """The FAKE_LABEL as (key, value), or None."""
    raw = os.environ.get("FAKE_LABEL", "")
    if not raw:
        return None
    k, _, v = raw.partition("=")
    return k, v


def test_labels():
    labels = {"devflow-test": "1"}
    wl = world_label()
    if wl:
        labels[wl[0]] = wl[1]
    return labels


def die(text, code=1):
    if text and not text.endswith("\n"):
        text += "\n"
    sys.stderr.write(text)
    sys.stderr.flush()
    sys.exit(code)


# ----------------------------------------------------------------------------- JSON state


@contextlib.contextmanager
def locked():
    """An exclusive lock over the fakes' state files (tools may run concurrently)."""
    fd = os.open(path(".lock"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def load_json(name, default):
    try:
        with open(path(name)) as f:
            text = f.read()
    except FileNotFoundError:
        return default
    if not text.strip():
        return default
    return json.loads(text)


def save_json(name, value):
    p = path(name)
    tmp = p + ".tmp.%d" % os.getpid()
    with open(tmp, "w") as f:
        json.dump(value, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, p)


def scenario():
    try:
        return load_json("scenario.json", {}) or {}
    except ValueError:
        return {}


# ----------------------------------------------------------------------------- log + injection

STDIN_FLAGS = ("--config", "-f", "--values")


def reads_stdin(argv):
    for i, a in enumerate(argv):
        if a in STDIN_FLAGS and i + 1 < len(argv) and argv[i + 1] == "-":
            return True
        for flag in STDIN_FLAGS:
            if a == flag + "=-":
                return True
    return False


def leading_words(argv):
    words = []
    for a in argv:
        if a.startswith("-"):
            break
        words.append(a)
    return words


def start(tool):
    """Log the call, then apply the scenario's hang/slow/fail for it. Returns (argv, stdin)."""
    argv = sys.argv[1:]
    stdin = sys.stdin.read() if reads_stdin(argv) else None
    line = json.dumps({"tool": tool, "argv": argv, "stdin": stdin, "time": time.time()}) + "\n"
    fd = os.open(path("log.jsonl"), os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)

    sc = scenario()
    words = [tool] + leading_words(argv)

    def match(keys):
        best = None
        for key in keys:
            kw = key.split()
            if kw and words[: len(kw)] == kw and (best is None or len(kw) > len(best.split())):
                best = key
        return best

    hang = sc.get("hang") or []
    if isinstance(hang, str):
        hang = [hang]
    if match(hang):
        with open(path("hang.pid"), "w") as f:
            f.write("%d\n" % os.getpid())
        while True:
            time.sleep(3600)
    slow = sc.get("slow") or {}
    key = match(slow.keys())
    if key:
        time.sleep(float(slow[key]))
    fail = sc.get("fail") or {}
    key = match(fail.keys())
    if key:
        die(str(fail[key]), 1)
    return argv, stdin


# ----------------------------------------------------------------------------- argument parsing


def parse_args(argv, value_flags, bool_flags, repeat_flags=()):
    """A small pflag-like parser: `--f v`, `--f=v`, `-f v`. Returns (flags, positionals) or
    raises ValueError("unknown flag: --x") like cobra."""
    flags = {}
    pos = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            pos.extend(argv[i + 1 :])
            break
        if a.startswith("-") and a != "-":
            name, eq, val = a.partition("=")
            if name in value_flags:
                canon = value_flags[name]
                if not eq:
                    if i + 1 >= len(argv):
                        raise ValueError("flag needs an argument: %s" % name)
                    i += 1
                    val = argv[i]
                if canon in repeat_flags:
                    flags.setdefault(canon, []).append(val)
                else:
                    flags[canon] = val
            elif name in bool_flags:
                canon = bool_flags[name]
                flags[canon] = (val.lower() not in ("false", "0")) if eq else True
            else:
                if name.startswith("--"):
                    raise ValueError("unknown flag: %s" % name)
                raise ValueError("unknown shorthand flag: %r in %s" % (name[1:2], a))
        else:
            pos.append(a)
        i += 1
    return flags, pos


def parse_duration(text):
    """Go durations: 5m0s, 300s, 1h, 1.5s; a bare number is seconds."""
    text = str(text).strip()
    if re.fullmatch(r"[0-9.]+", text):
        return float(text)
    total = 0.0
    for num, unit in re.findall(r"([0-9.]+)(ms|h|m|s)", text):
        total += float(num) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


# ----------------------------------------------------------------------------- docker


def docker(*args, check=False, capture=True):
    res = subprocess.run(
        ["docker"] + [str(a) for a in args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
        text=True,
    )
    if check and res.returncode != 0:
        raise RuntimeError("docker %s: %s" % (" ".join(map(str, args)), (res.stderr or "").strip()))
    return res


def ensure_network(name, labels):
    """Create the Docker network if missing; returns its ID. Docker does not keep network names
    unique under concurrent creation, so creation is serialised with a machine-wide lock."""

    def find():
        res = docker("network", "ls", "-q", "--no-trunc", "--filter", "name=^%s$" % name)
        ids = [i for i in (res.stdout or "").split() if i]
        return ids[0] if ids else None

    found = find()
    if found:
        return found
    lock_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "devflow-fake-docker-network.lock")
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        found = find()
        if found:
            return found
        args = ["network", "create"]
        for k, v in labels.items():
            args += ["--label", "%s=%s" % (k, v)]
        res = docker(*(args + [name]))
        if res.returncode != 0:
            found = find()
            if found:
                return found
            raise RuntimeError("docker network create %s: %s" % (name, res.stderr.strip()))
        return res.stdout.strip() or find()
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def run_container(name, labels, mounts, network=None, hostname=None, env=None):
    """Start a detached node container from FAKE_NODE_IMAGE. No host ports are published.
    mounts: list of (src, dest, options) with options like "ro" or "" ."""
    args = ["run", "-d", "--init", "--name", name, "--hostname", hostname or name]
    for k, v in labels.items():
        args += ["--label", "%s=%s" % (k, v)]
    for src, dest, opts in mounts:
        spec = "%s:%s" % (src, dest) if src else dest
        if opts:
            spec += ":" + opts
        args += ["-v", spec]
    if network:
        args += ["--network", network]
    for e in env or []:
        args += ["-e", e]
    args.append(node_image())
    return docker(*args)


def remove_containers(names):
    if names:
        docker("rm", "-f", *names)


def container_states(names):
    """{name: {"running": bool, "status": str, "started": str}} for the containers that exist."""
    out = {}
    if not names:
        return out
    res = docker("inspect", "-f", "{{.Name}}|{{.State.Running}}|{{.State.Status}}|{{.State.StartedAt}}", *names)
    for line in (res.stdout or "").splitlines():
        parts = line.strip().split("|")
        if len(parts) == 4:
            out[parts[0].lstrip("/")] = {"running": parts[1] == "true", "status": parts[2], "started": parts[3]}
    return out


# ----------------------------------------------------------------------------- kubeconfig


def kubeconfig_path(explicit=None):
    if explicit:
        return explicit
    env = os.environ.get("KUBECONFIG", "")
    for p in env.split(os.pathsep):
        if p:
            return p
    return os.path.join(os.path.expanduser("~"), ".kube", "config")


def empty_kubeconfig():
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [],
        "contexts": [],
        "users": [],
        "current-context": "",
    }


def read_kubeconfig(explicit=None):
    p = kubeconfig_path(explicit)
    try:
        with open(p) as f:
            text = f.read()
    except FileNotFoundError:
        return empty_kubeconfig()
    if not text.strip():
        return empty_kubeconfig()
    try:
        cfg = json.loads(text)
    except ValueError:
        cfg = yaml_load(text) or {}
    for key in ("clusters", "contexts", "users"):
        if not isinstance(cfg.get(key), list):
            cfg[key] = []
    cfg.setdefault("apiVersion", "v1")
    cfg.setdefault("kind", "Config")
    cfg.setdefault("current-context", "")
    return cfg


def write_kubeconfig(cfg, explicit=None):
    p = kubeconfig_path(explicit)
    d = os.path.dirname(p)
    if d:
        os.makedirs(d, exist_ok=True)
    tmp = p + ".tmp.%d" % os.getpid()
    with open(tmp, "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, p)


def add_context(name, switch, explicit=None):
    with locked():
        cfg = read_kubeconfig(explicit)
        for key in ("clusters", "contexts", "users"):
            cfg[key] = [e for e in cfg[key] if e.get("name") != name]
        cfg["clusters"].append({"name": name, "cluster": {"server": kube_url()}})
        cfg["users"].append({"name": name, "user": {"token": "fake"}})
        cfg["contexts"].append({"name": name, "context": {"cluster": name, "user": name}})
        if switch:
            cfg["current-context"] = name
        write_kubeconfig(cfg, explicit)


def remove_context(name, explicit=None):
    with locked():
        p = kubeconfig_path(explicit)
        if not os.path.exists(p):
            return
        cfg = read_kubeconfig(explicit)
        for key in ("clusters", "contexts", "users"):
            cfg[key] = [e for e in cfg[key] if e.get("name") != name]
        if cfg.get("current-context") == name:
            cfg["current-context"] = ""
        write_kubeconfig(cfg, explicit)


def context_names(explicit=None):
    return [c.get("name") for c in read_kubeconfig(explicit).get("contexts", [])]


# ----------------------------------------------------------------------------- clusters


def clusters():
    return load_json("clusters.json", {})


def save_clusters(c):
    save_json("clusters.json", c)


def context_of(name, record):
    if record.get("provider") == "existing":
        # a cluster devflow did not create: its kube context is whatever the user has
        return record.get("context") or name
    return ("kind-" if record.get("provider") == "kind" else "k3d-") + name


def drop_releases(context):
    rel = load_json("releases.json", {})
    if context in rel:
        del rel[context]
        save_json("releases.json", rel)


def kubelet_version(image, provider):
    m = re.search(r":v(\d+\.\d+\.\d+)", image or "")
    if not m:
        return "v1.36.4" if provider == "kind" else "v1.36.4+k3s1"
    v = "v" + m.group(1)
    return v if provider == "kind" else v + "+k3s1"


# ----------------------------------------------------------------------------- YAML subset

_NUM_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_NUM_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")


class YamlError(ValueError):
    pass


def _plain(text):
    t = text.strip()
    if t in ("", "~", "null", "Null", "NULL"):
        return None
    if t in ("true", "True", "TRUE"):
        return True
    if t in ("false", "False", "FALSE"):
        return False
    if _NUM_INT.match(t):
        return int(t)
    if _NUM_FLOAT.match(t) and any(c.isdigit() for c in t):
        return float(t)
    if t in (".inf", "+.inf"):
        return float("inf")
    return t


def _strip_comment(s):
    """Remove a trailing ` # comment` outside quotes."""
    q = None
    i = 0
    while i < len(s):
        c = s[i]
        if q:
            if q == '"' and c == "\\":
                i += 2
                continue
            if c == q:
                if q == "'" and i + 1 < len(s) and s[i + 1] == "'":
                    i += 2
                    continue
                q = None
        elif c in "\"'" and (i == 0 or s[i - 1] in " \t[{,:"):
            q = c
        elif c == "#" and (i == 0 or s[i - 1] in " \t"):
            return s[:i].rstrip()
        i += 1
    return s.rstrip()


def _quoted(s, i):
    """Parse a quoted scalar starting at s[i]; returns (value, next index)."""
    q = s[i]
    j = i + 1
    out = []
    while j < len(s):
        c = s[j]
        if q == "'" and c == "'":
            if j + 1 < len(s) and s[j + 1] == "'":
                out.append("'")
                j += 2
                continue
            return "".join(out), j + 1
        if q == '"' and c == "\\":
            n = s[j + 1] if j + 1 < len(s) else ""
            simple = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", '"': '"', "\\": "\\", "/": "/", " ": " ", "e": "\x1b", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "N": "\x85", "_": "\xa0"}
            if n in simple:
                out.append(simple[n])
                j += 2
                continue
            if n in "xuU":
                width = {"x": 2, "u": 4, "U": 8}[n]
                out.append(chr(int(s[j + 2 : j + 2 + width], 16)))
                j += 2 + width
                continue
            out.append(n)
            j += 2
            continue
        if q == '"' and c == '"':
            return "".join(out), j + 1
        out.append(c)
        j += 1
    raise YamlError("unterminated quoted scalar: %s" % s)


def _flow(s, i):
    """Parse a flow value at s[i]; returns (value, next index)."""
    while i < len(s) and s[i] in " \t":
        i += 1
    if i >= len(s):
        return None, i
    c = s[i]
    if c == "[":
        out = []
        i += 1
        while True:
            while i < len(s) and s[i] in " \t,":
                i += 1
            if i < len(s) and s[i] == "]":
                return out, i + 1
            if i >= len(s):
                raise YamlError("unterminated flow sequence")
            v, i = _flow(s, i)
            out.append(v)
    if c == "{":
        out = {}
        i += 1
        while True:
            while i < len(s) and s[i] in " \t,":
                i += 1
            if i < len(s) and s[i] == "}":
                return out, i + 1
            if i >= len(s):
                raise YamlError("unterminated flow mapping")
            if s[i] in "\"'":
                k, i = _quoted(s, i)
            else:
                j = i
                while j < len(s) and s[j] not in ":,}":
                    j += 1
                k = _plain(s[i:j])
                i = j
            while i < len(s) and s[i] in " \t":
                i += 1
            v = None
            if i < len(s) and s[i] == ":":
                v, i = _flow(s, i + 1)
            out[k] = v
    if c in "\"'":
        return _quoted(s, i)
    j = i
    while j < len(s) and s[j] not in ",]}":
        j += 1
    return _plain(s[i:j]), j


def _scalar(text):
    t = text.strip()
    if not t:
        return None
    if t[0] in "[{":
        v, j = _flow(t, 0)
        if t[j:].strip():
            raise YamlError("trailing text after flow value: %s" % t)
        return v
    if t[0] in "\"'":
        v, j = _quoted(t, 0)
        if t[j:].strip():
            raise YamlError("trailing text after quoted scalar: %s" % t)
        return v
    if t.startswith("&") or t.startswith("*") or t.startswith("!"):
        raise YamlError("anchors, aliases and tags are not supported by the fake: %s" % t)
    return _plain(t)


def _split_key(content):
    """'key: value' -> (key, value_text) or None when content is not a mapping entry."""
    if content[:1] in "\"'":
        try:
            k, j = _quoted(content, 0)
        except YamlError:
            return None
        rest = content[j:].lstrip(" ")
        if rest.startswith(":") and (len(rest) == 1 or rest[1] in " \t"):
            return k, rest[1:].strip()
        return None
    if content[:1] in "[{":
        return None
    m = re.match(r"^([^#]*?)\s*:(\s+(.*))?$", content)
    if not m:
        return None
    key = m.group(1)
    if ": " in key or not key:
        # the first ': ' separates key and value
        idx = content.find(": ")
        if idx <= 0:
            return None
        return _plain(content[:idx]), content[idx + 2 :].strip()
    return _plain(key), (m.group(3) or "").strip()


class _Lines:
    def __init__(self, text):
        self.raw = text.replace("\r\n", "\n").replace("\t", "  ").split("\n")
        self.items = []  # (lineno, indent, content)
        for n, line in enumerate(self.raw):
            stripped = line.strip()
            if not stripped or stripped.startswith("#") or stripped in ("---", "..."):
                self.items.append(None)
                continue
            if stripped.startswith("%"):
                self.items.append(None)
                continue
            indent = len(line) - len(line.lstrip(" "))
            self.items.append((n, indent, _strip_comment(line[indent:])))

    def next(self, i):
        while i < len(self.items) and self.items[i] is None:
            i += 1
        return i


def _block_scalar(lines, i, header, parent_indent):
    """Collect a | or > block scalar whose header is on line i-1; returns (text, next index)."""
    chomp = "clip"
    if "-" in header:
        chomp = "strip"
    elif "+" in header:
        chomp = "keep"
    folded = header.startswith(">")
    body = []
    block_indent = None
    j = i
    while j < len(lines.raw):
        line = lines.raw[j]
        if line.strip() == "":
            body.append("")
            j += 1
            continue
        ind = len(line) - len(line.lstrip(" "))
        if ind <= parent_indent:
            break
        if block_indent is None:
            block_indent = ind
        if ind < block_indent:
            break
        body.append(line[block_indent:])
        j += 1
    # trailing blank lines belong to chomping
    kept = 0
    while body and body[-1] == "":
        body.pop()
        kept += 1
    if folded:
        text = ""
        for k, b in enumerate(body):
            if k == 0:
                text = b
            elif b == "" or body[k - 1] == "" or b.startswith(" "):
                text += "\n" + b
            else:
                text += " " + b
    else:
        text = "\n".join(body)
    if chomp != "strip" and body:
        text += "\n"
    if chomp == "keep":
        text += "\n" * kept
    return text, j


def _parse_block(lines, i, indent):
    i = lines.next(i)
    if i >= len(lines.items):
        return None, i
    _, ind, content = lines.items[i]
    if content == "-" or content.startswith("- "):
        return _parse_seq(lines, i, ind)
    if _split_key(content) is not None:
        return _parse_map(lines, i, ind)
    # a lone scalar (document or continuation)
    return _scalar(content), i + 1


def _value_after(lines, i, rest, ind, in_seq_map=False):
    """Parse the value of a key whose remaining text is `rest` (line i already consumed)."""
    if rest.startswith("|") or rest.startswith(">"):
        return _block_scalar(lines, i, rest, ind)
    if rest:
        return _scalar(rest), i
    j = lines.next(i)
    if j >= len(lines.items):
        return None, j
    _, nind, ncontent = lines.items[j]
    if nind > ind:
        return _parse_block(lines, j, nind)
    if nind == ind and (ncontent == "-" or ncontent.startswith("- ")) and not in_seq_map:
        return _parse_seq(lines, j, nind)
    return None, j


def _parse_map(lines, i, indent):
    out = {}
    while True:
        i = lines.next(i)
        if i >= len(lines.items):
            return out, i
        n, ind, content = lines.items[i]
        if ind < indent:
            return out, i
        if ind > indent:
            raise YamlError("line %d: bad indentation of a mapping entry" % (n + 1))
        if content == "-" or content.startswith("- "):
            return out, i
        kv = _split_key(content)
        if kv is None:
            raise YamlError("line %d: could not find expected ':'" % (n + 1))
        key, rest = kv
        v, i = _value_after(lines, i + 1, rest, indent)
        out[key] = v


def _parse_seq(lines, i, indent):
    out = []
    while True:
        i = lines.next(i)
        if i >= len(lines.items):
            return out, i
        n, ind, content = lines.items[i]
        if ind != indent or not (content == "-" or content.startswith("- ")):
            if ind > indent:
                raise YamlError("line %d: bad indentation of a sequence entry" % (n + 1))
            return out, i
        rest = content[1:]
        stripped = rest.lstrip(" ")
        child_indent = indent + 1 + (len(rest) - len(stripped))
        if not stripped:
            v, i = _value_after(lines, i + 1, "", indent)
            out.append(v)
            continue
        if stripped.startswith("- "):
            # nested sequence on the same line: rewrite the line and recurse
            lines.items[i] = (n, child_indent, stripped)
            v, i = _parse_seq(lines, i, child_indent)
            out.append(v)
            continue
        kv = _split_key(stripped)
        if kv is not None and stripped[:1] not in "[{":
            lines.items[i] = (n, child_indent, stripped)
            v, i = _parse_map(lines, i, child_indent)
            out.append(v)
            continue
        if stripped.startswith("|") or stripped.startswith(">"):
            v, i = _block_scalar(lines, i + 1, stripped, indent)
            out.append(v)
            continue
        out.append(_scalar(stripped))
        i += 1


def _load_one(text):
    t = text.strip()
    if t.startswith("{") or t.startswith("["):
        try:
            return json.loads(t)
        except ValueError:
            pass
    lines = _Lines(text)
    v, i = _parse_block(lines, 0, 0)
    i = lines.next(i)
    if i < len(lines.items):
        n = lines.items[i][0]
        raise YamlError("line %d: unexpected content: %s" % (n + 1, lines.items[i][2]))
    return v


def yaml_load_all(text):
    """Every document of a multi-document stream (separated by `---` lines)."""
    docs, cur = [], []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.rstrip() == "---" or line.startswith("--- "):
            docs.append("\n".join(cur))
            cur = [line[4:]] if line.startswith("--- ") else []
        else:
            cur.append(line)
    docs.append("\n".join(cur))
    out = []
    for k, d in enumerate(docs):
        if not d.strip() or all(not l.strip() or l.lstrip().startswith("#") for l in d.split("\n")):
            continue
        out.append(_load_one(d))
    return out


def yaml_load(text):
    """Parse the YAML subset devflow's serde_norway emits (block maps and lists, plain and
    quoted scalars, block scalars, simple flow collections); JSON parses too. A stream of several
    documents gives the first, like a single-document loader."""
    docs = yaml_load_all(text)
    return docs[0] if docs else None


def key_line(text, key):
    """The 1-based line number of the first `key:` in text (for error messages), or 0."""
    pat = re.compile(r"^\s*(-\s+)?['\"]?" + re.escape(str(key)) + r"['\"]?\s*:")
    for n, line in enumerate(text.split("\n")):
        if pat.match(line):
            return n + 1
    return 0


def expand_env(text):
    """Go's os.ExpandEnv: $VAR and ${VAR}; unknown variables become empty."""

    def rep(m):
        name = m.group(1) or m.group(2)
        return os.environ.get(name, "")

    return re.sub(r"\$\{([^}]*)\}|\$([A-Za-z0-9_]+)", rep, text)
