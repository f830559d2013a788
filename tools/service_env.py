"""Which environment variables a service reads, found in its code (so deploy files cannot drift).

Scans services/<svc>/**/*.py for `env.text/integer/number/secret("NAME", ...)`,
`helper(env, "NAME", ...)` and `*.get("NAME")` on an env mapping, plus what the shared
libraries read for every service (ServiceSettings.read, AuthSettings.from_env, setup_tracing).
A `secret("NAME")` may also be given as NAME_FILE.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READERS = {"text", "integer", "number", "secret", "flag"}
MAPPINGS = ("env", "environ", "values", "os.environ")
SHARED = (
    ROOT / "libs" / "zerog_grpc" / "service.py",
    ROOT / "libs" / "zerog_grpc" / "settings.py",
    ROOT / "libs" / "zerog_grpc" / "tracing.py",
)


@dataclass(frozen=True)
class EnvUsage:
    """The names a service reads; `required` ones have no default; `secrets` accept NAME_FILE."""

    names: frozenset[str]
    required: frozenset[str]
    secrets: frozenset[str]

    def accepts(self, name: str) -> bool:
        """True if setting `name` has an effect on the service."""
        base = name.removesuffix("_FILE")
        return name in self.names or (name != base and base in self.secrets)


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _scan(path: Path) -> tuple[set[str], set[str], set[str]]:
    names: set[str] = set()
    required: set[str] = set()
    secrets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        # Helpers such as _cron(env, "DAILY_DIGEST_CRON", default) read through env too.
        if isinstance(node, ast.Call) and len(node.args) >= 2:
            first, second = node.args[0], _literal(node.args[1])
            if isinstance(first, ast.Name) and first.id == "env" and second and second.isupper():
                names.add(second)
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
            continue
        name, method = _literal(node.args[0]), node.func.attr
        receiver = ast.unparse(node.func.value)
        if name is None or not name.isupper():
            continue
        if method in READERS:
            names.add(name)
            defaults = {k.arg: k.value for k in node.keywords}
            if method == "secret":
                secrets.add(name)
                flag = node.args[1] if len(node.args) > 1 else defaults.get("required")
                if flag is None or (isinstance(flag, ast.Constant) and flag.value is True):
                    required.add(name)
            elif method == "text" and len(node.args) == 1 and "default" not in defaults:
                required.add(name)
        elif method == "get" and receiver.endswith(MAPPINGS):
            names.add(name)
    return names, required, secrets


def usage(service: str) -> EnvUsage:
    """Everything `python -m services.<service>` reads from its environment."""
    names: set[str] = set()
    required: set[str] = set()
    secrets: set[str] = set()
    for path in sorted((ROOT / "services" / service).rglob("*.py")):
        n, r, s = _scan(path)
        names |= n
        required |= r
        secrets |= s
    for path in SHARED:
        n, _, s = _scan(path)  # what is required there depends on the service's choices
        names |= n
        secrets |= s
    # Every service needs its database and the JWKS it checks tokens with (ServiceSettings);
    # our deployments mount the JWKS as a file (AUTH_JWKS_URL is the other choice).
    required |= {"DATABASE_URL", "AUTH_JWKS_FILE"}
    return EnvUsage(frozenset(names), frozenset(required), frozenset(secrets))


def exists(service: str) -> bool:
    """True once the service has a config module to read."""
    return (ROOT / "services" / service / "config.py").exists()
