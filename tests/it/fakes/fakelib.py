"""Shared code of the fake `kind`, `k3d` and `helm` executables (Python 3 and PyYAML).

Environment (set by tests/it/world.rs):
  FAKE_HOME        the fakes' state folder: log.jsonl, clusters.json, releases.json, scenario.json
  FAKE_KUBE_URL    the fake Kubernetes API (http://127.0.0.1:PORT) written into kubeconfig contexts
  KUBECONFIG       the kubeconfig the fakes add contexts to (written as JSON, which is valid YAML)
  FAKE_NODE_IMAGE  the local image every node container runs (never pulled)
  FAKE_LABEL       key=value label put on every container/network, so a test can clean up its own
  FAKE_TEST        the name of the test, put on every container/network (devflow-test-name) and log line

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

try:
    import yaml
except ImportError:
    sys.stderr.write(
        "fake: PyYAML is missing for %s: apt-get install python3-yaml (Debian's python3), "
        "or %s -m pip install pyyaml\n" % (sys.executable, sys.executable)
    )
    sys.exit(2)

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
    if os.environ.get("FAKE_TEST"):
        labels["devflow-test-name"] = os.environ["FAKE_TEST"]
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
    line = json.dumps({"tool": tool, "argv": argv, "stdin": stdin, "time": time.time(), "test": os.environ.get("FAKE_TEST")}) + "\n"
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
    """The file kind merges into (kind `pkg/cluster/internal/kubeconfig/internal/kubeconfig/paths.go`
    `pathForMerge`): --kubeconfig; else of KUBECONFIG's non-empty entries the only one, or the
    first that exists, or the last; else ~/.kube/config."""
    if explicit:
        return explicit
    listed = []
    for p in os.environ.get("KUBECONFIG", "").split(os.pathsep):
        if p and p not in listed:
            listed.append(p)
    if len(listed) == 1:
        return listed[0]
    for p in listed:
        if os.path.isfile(p):
            return p
    if listed:
        return listed[-1]
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
    """Merges the cluster's context into the kubeconfig; kind always switches the current context
    to it (`merge.go` sets `existing.CurrentContext = kind.CurrentContext`), k3d only with
    switchCurrentContext."""
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


# ----------------------------------------------------------------------------- YAML

YamlError = yaml.YAMLError


class GoYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, less its timestamps: kind, k3d and Helm turn YAML into JSON with Go's
    YAML libraries (sigs.k8s.io/yaml), where a date stays the string it was written as."""


GoYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def yaml_load(text):
    """The first document of a YAML stream, or None: Go's yaml.Unmarshal reads one document.
    JSON is YAML too."""
    return next(iter(yaml.load_all(text, Loader=GoYamlLoader)), None)


def key_line(text, key):
    """The 1-based line of the first mapping key `key` in the text (for error messages, as go-yaml
    gives the key's line), or 0."""

    def walk(node):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    return k.start_mark.line + 1
                found = walk(v)
                if found:
                    return found
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                found = walk(item)
                if found:
                    return found
        return 0

    return walk(next(iter(yaml.compose_all(text)), None))


def expand_env(text):
    """Go's os.ExpandEnv: $VAR and ${VAR}; unknown variables become empty."""

    def rep(m):
        name = m.group(1) or m.group(2)
        return os.environ.get(name, "")

    return re.sub(r"\$\{([^}]*)\}|\$([A-Za-z0-9_]+)", rep, text)
