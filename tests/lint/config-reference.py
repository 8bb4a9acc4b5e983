#!/usr/bin/python3
"""README's Configuration table against the binaries' --help.

Usage: config-reference.py README.md BINDIR

Every OVOP_ variable a binary prints in --help ("[OVOP_X; default: D...]", common/config.c)
must have a table row naming that binary in "read by", with the binary's default; every row
must name variables some binary reads (or one of ALLOWED below). Rules for the table:
- "read by": comma-separated; "broker", "ovopctl", "registryd", "exportd", "matchd", "notifyd",
  "programd", "webd" or "daemons" (the five MDP workers: not the broker, webd or ovopctl); a parenthesised note such as "(libpq)" is ignored.
- default: a value in backticks is compared with the binary's exactly; "—" means no default
  ("(none)" or empty); a trailing parenthesis not naming binaries is a note ("— (a fresh
  UUID)"); plain text without backticks (HOSTNAME:PID) describes a default
  computed at run time and is not compared. "`25` (matchd `50`, broker —)" gives per-binary
  exceptions to the first value. A row may list several variables ("`A`, `B`") with as many
  comma-separated defaults.
- a variable may have several rows (OVOP_KEY: daemons/ovopctl and broker) with other readers.
Exit 1 with one line per disagreement, and the rows to add for missing variables.
"""
import os
import re
import subprocess
import sys

BINARIES = {
    "broker": "ovop-broker",
    "registryd": "ovop-registryd",
    "exportd": "ovop-exportd",
    "matchd": "ovop-matchd",
    "notifyd": "ovop-notifyd",
    "programd": "ovop-programd",
    "webd": "ovop-webd",
    "ovopctl": "ovopctl",
}
DAEMONS = ["registryd", "exportd", "matchd", "notifyd", "programd"]

# Variables no binary's --help lists, read by something else. Each says why; a variable here
# with a "help" command must be named ($VAR) in that command's --help, so a stale entry fails.
ALLOWED = {
    # libpq reads them itself (a role and its password file per process, one shared URL).
    "PGUSER": None,
    "PGPASSFILE": None,
    # deploy/ovop's setup (ovop-setup in the containers) reads the key directory.
    "OVOP_SECRETS": None,
    # ovopctl subscription listen reads them with getenv as defaults of --stream/--notify-key.
    "OVOP_NOTIFY_STREAM": ["ovopctl", "subscription", "listen", "--help"],
    "OVOP_NOTIFY_KEY": ["ovopctl", "subscription", "listen", "--help"],
}

HELP_OPT = re.compile(r"^  --(\S+)\s+(.*)$")
HELP_ENV = re.compile(r"^\s+\[(OVOP_[A-Z0-9_]+); default: (.*?)(?:; -?\d+\.\.-?\d+)?\]$")


def read_help(bindir, short):
    """{VAR: (default, option, help text)} from one binary's --help."""
    out = subprocess.run([os.path.join(bindir, BINARIES[short]), "--help"], capture_output=True,
                         text=True, timeout=20, check=True).stdout.splitlines()
    opts = {}
    for i, line in enumerate(out[:-1]):
        m, e = HELP_OPT.match(line), HELP_ENV.match(out[i + 1])
        if m and e:
            opts[e.group(1)] = (e.group(2), m.group(1), m.group(2))
    return opts


def split_cell(cell):
    """Comma-separated parts of a cell, commas inside backticks or parentheses kept."""
    parts, cur, tick, depth = [], "", False, 0
    for ch in cell:
        tick ^= ch == "`"
        depth += (ch == "(") - (ch == ")") if not tick else 0
        if ch == "," and not tick and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return parts


def parse_default(text):
    """(general, {short: value}); a value is a string, None (no default) or ANY (computed)."""
    # A trailing parenthesis is per-binary exceptions when it names binaries, else a note.
    m = re.match(r"^(.*?)\s*\(([^()]*)\)\s*$", text)
    general, exceptions = (m.group(1), m.group(2)) if m else (text, "")
    if not re.match(r"^(" + "|".join(BINARIES) + r") ", exceptions):
        exceptions = ""
    per = {}
    for part in split_cell(exceptions) if exceptions else []:
        name, _, val = part.partition(" ")
        per[name.strip()] = one_value(val.strip())
    return one_value(general.strip()), per


ANY = object()


def one_value(v):
    if v in ("—", "-", ""):
        return None
    m = re.fullmatch(r"`([^`]*)`", v)
    return m.group(1) if m else ANY


def parse_table(readme):
    """[(line number, [vars], [(general, per)], set of readers, unknown readers)]"""
    rows, inside = [], False
    with open(readme, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines, 1):
        if line.startswith("## "):
            inside = line.strip() == "## Configuration"
            continue
        if not inside or not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        names = [v.strip("`") for v in split_cell(cells[0])]
        defaults = split_cell(cells[1])
        if len(defaults) != len(names):
            defaults = [cells[1]] * len(names)
        readers, unknown = set(), []
        for r in split_cell(re.sub(r"\([^)]*\)", "", cells[2])):
            r = r.strip("` ")
            if r == "daemons":
                readers.update(DAEMONS)
            elif r in BINARIES:
                readers.add(r)
            elif r:
                unknown.append(r)
        rows.append((n, names, [parse_default(d) for d in defaults], readers, unknown))
    return rows


def show(v):
    return "—" if v is None else f"`{v}`"


def main():
    readme, bindir = sys.argv[1], sys.argv[2]
    helps = {short: read_help(bindir, short) for short in BINARIES}
    rows = parse_table(readme)
    problems, listed = [], set()
    for n, names, defaults, readers, unknown in rows:
        for var, (general, per) in zip(names, defaults):
            readers_of_var = {s for s in BINARIES if var in helps[s]}
            if not readers_of_var and var not in ALLOWED:
                problems.append(f"README.md:{n}: {var}: no binary reads it (--help of none lists "
                                "it) and it is not in ALLOWED of tests/lint/config-reference.py")
            if var in ALLOWED and ALLOWED[var]:
                cmd = ALLOWED[var]
                out = subprocess.run([os.path.join(bindir, cmd[0])] + cmd[1:],
                                     capture_output=True, text=True, timeout=20).stdout
                if "$" + var not in out:
                    problems.append(f"README.md:{n}: {var}: allowed as read by "
                                    f"`{' '.join(cmd[:-1])}` but its --help does not name ${var}")
            for r in unknown:
                if var not in ALLOWED:
                    problems.append(f"README.md:{n}: {var}: read by \"{r}\" is not a binary")
            for s in sorted(readers):
                if var not in helps[s]:
                    if var not in ALLOWED:
                        problems.append(f"README.md:{n}: {var}: read by names {s}, but "
                                        f"{BINARIES[s]} --help does not list it")
                    continue
                listed.add((var, s))
                want = per.get(s, general)
                have = helps[s][var][0]
                if want is ANY:
                    continue
                if (want is None and have not in ("(none)", "")) or (
                        want is not None and want != have):
                    problems.append(f"README.md:{n}: {var}: default for {s} is {show(want)} in "
                                    f"the table, {BINARIES[s]} --help says `{have}`")
            for s in per:
                if s not in readers:
                    problems.append(f"README.md:{n}: {var}: default given for {s}, which the "
                                    "row's read by does not name")
    missing = {}
    for s in BINARIES:
        for var, (default, opt, text) in helps[s].items():
            if (var, s) not in listed:
                missing.setdefault(var, []).append((s, default, text))
    for var, who in sorted(missing.items()):
        problems.append(f"README.md: {var}: read by {', '.join(s for s, _, _ in who)} "
                        "(--help), missing from the table (or from the read by of its row)")
    if problems:
        print("The Configuration table of README.md disagrees with the binaries' --help:")
        for p in problems:
            print("  " + p)
        if missing:
            print("Rows to add (or readers to add to an existing row):")
            for var, who in sorted(missing.items()):
                s, d, text = who[0]
                shown = "—" if d in ("(none)", "") else f"`{d}`"
                print(f"+| `{var}` | {shown} | {', '.join(w[0] for w in who)} | {text} |")
        return 1
    print(f"config-reference: {len(rows)} rows agree with the --help of {len(BINARIES)} binaries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
