#!/usr/bin/env python3
"""Renders README.md's reference sections from their sources: the StatelessService fields from
crds/statelessservice.yaml, the chart values from charts/herd/values.yaml (its `# --` comments) and
charts/herd/values.schema.json. Each section sits between `<!-- BEGIN GENERATED: name -->` and
`<!-- END GENERATED: name -->`.

Usage: gen-docs.py          rewrite README.md
       gen-docs.py --check  exit 1, naming the stale sections, when README.md differs (`make test` runs this)
"""
import json
import os
import re
import sys

import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
README = os.path.join(ROOT, "README.md")
CRD = os.path.join(ROOT, "crds", "statelessservice.yaml")
VALUES = os.path.join(ROOT, "charts", "herd", "values.yaml")
SCHEMA = os.path.join(ROOT, "charts", "herd", "values.schema.json")

# Kubernetes' own types embedded in the spec: documented by Kubernetes, so named rather than expanded.
OPAQUE = {
    "spec.env": "list of core/v1 EnvVar",
    "spec.envFrom": "list of core/v1 EnvFromSource",
    "spec.resources": "core/v1 ResourceRequirements",
    "status.conditions": "list of meta/v1 Condition (types Available, Progressing, Degraded)",
}


def cell(text):
    """Markdown-table-safe text: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def schema_type(node):
    if node.get("x-kubernetes-int-or-string"):
        return "int or string"
    kind = node.get("type", "object")
    if kind == "array":
        return "list of " + schema_type(node.get("items", {}))
    if kind == "object" and "additionalProperties" in node and "properties" not in node:
        return "map of " + schema_type(node["additionalProperties"] or {})
    return kind


def constraints(node):
    parts = []
    if "enum" in node:
        parts.append("one of " + ", ".join(f"`{v}`" for v in node["enum"] if v is not None))
    for key, word in (("minimum", ">="), ("maximum", "<="), ("minLength", "min length"), ("minItems", "min items")):
        if key in node:
            parts.append(f"{word} {node[key]}")
    if "pattern" in node:
        parts.append(f"pattern `{node['pattern']}`")
    return parts


def crd_rows(node, path, required, rows, rules):
    for rule in node.get("x-kubernetes-validations") or []:
        rules.append((path, rule.get("message", rule["rule"])))
    for name, child in sorted((node.get("properties") or {}).items()):
        field = f"{path}.{name}" if path else name
        # An object's default is the sum of its fields' defaults, listed on their own rows.
        has_default = "default" in child and not child.get("properties")
        default = f"`{json.dumps(child['default'])}`" if has_default else ""
        notes = (["required"] if name in required else []) + constraints(child)
        description = child.get("description", "")
        if field in OPAQUE:
            rows.append((field, OPAQUE[field], default, description, notes))
            continue
        rows.append((field, schema_type(child), default, description, notes))
        target = child.get("items", child) if child.get("type") == "array" else child
        if target is not child:
            for rule in child.get("x-kubernetes-validations") or []:
                rules.append((field, rule.get("message", rule["rule"])))
        suffix = "[]" if child.get("type") == "array" else ""
        crd_rows(target, field + suffix, target.get("required", []), rows, rules)


def crd_section():
    with open(CRD) as f:
        crd = yaml.safe_load(f)
    lines = []
    for version in crd["spec"]["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        lines.append(f"`{kind}` ({group}/{version['name']}), generated from `crds/statelessservice.yaml`.")
        rules = [("metadata" if "metadata" in r["rule"] else "", r.get("message", r["rule"]))
                 for r in schema.get("x-kubernetes-validations") or []]
        for part in ("spec", "status"):
            node = schema.get("properties", {}).get(part)
            if not node:
                continue
            rows = []
            crd_rows(node, part, node.get("required", []), rows, rules)
            lines += ["", "| field | type | default | description |", "|---|---|---|---|"]
            for field, kind_, default, description, notes in rows:
                text = description + (f" ({'; '.join(notes)})" if notes else "")
                lines.append(f"| `{field}` | {cell(kind_)} | {cell(default)} | {cell(text)} |")
        if rules:
            lines += ["", "Rules the API server enforces (CEL) and the message `kubectl apply` prints when one fails:", ""]
            lines += ["| field | message |", "|---|---|"]
            lines += [f"| `{field or '(object)'}` | {cell(message)} |" for field, message in rules]
    return "\n".join(lines)


def values_comments():
    """Maps dotted value paths to their `# --` comment, the helm-docs convention."""
    comments, stack, pending = {}, [], []
    with open(VALUES) as f:
        for line in f:
            stripped = line.strip()
            if stripped.startswith("# --"):
                pending = [stripped[4:].strip()]
            elif stripped.startswith("#") and pending:
                pending.append(stripped[1:].strip())
            elif m := re.match(r"^(\s*)([A-Za-z0-9_]+):", line):
                depth = len(m.group(1)) // 2
                stack = stack[:depth] + [m.group(2)]
                if pending:
                    comments[".".join(stack)] = " ".join(pending)
                pending = []
            else:
                pending = []
    return comments


def value_rows(values, schema, path, comments, rows):
    for key, value in values.items():
        field = f"{path}.{key}" if path else key
        node = resolve(schema.get("properties", {}).get(key, {}))
        if isinstance(value, dict) and value and field not in comments:
            value_rows(value, node, field, comments, rows)
            continue
        kind = node.get("type", type(value).__name__)
        kind = " or ".join(kind) if isinstance(kind, list) else kind
        notes = constraints(node)
        description = comments.get(field, node.get("description", ""))
        if not description:
            sys.exit(f"chart value {field} has no description: add a `# --` comment above it in values.yaml")
        text = description + (f" ({'; '.join(notes)})" if notes else "")
        rows.append(f"| `{field}` | {cell(kind)} | `{cell(json.dumps(value))}` | {cell(text)} |")


SCHEMA_ROOT = {}


def resolve(node):
    ref = node.get("$ref")
    if ref and ref.startswith("#/definitions/"):
        return SCHEMA_ROOT["definitions"][ref.split("/")[-1]]
    return node


def values_section():
    with open(VALUES) as f:
        values = yaml.safe_load(f)
    with open(SCHEMA) as f:
        SCHEMA_ROOT.update(json.load(f))
    rows = []
    value_rows(values, SCHEMA_ROOT, "", values_comments(), rows)
    head = [
        "Generated from `charts/herd/values.yaml` and `values.schema.json`; `helm install` rejects anything else.",
        "",
        "| value | type | default | description |",
        "|---|---|---|---|",
    ]
    return "\n".join(head + rows)


SECTIONS = {"crd-reference": crd_section, "chart-values": values_section}


def render(readme):
    stale = []
    for name, make in SECTIONS.items():
        begin, end = f"<!-- BEGIN GENERATED: {name} -->", f"<!-- END GENERATED: {name} -->"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if not pattern.search(readme):
            sys.exit(f"README.md has no `{begin}` ... `{end}` section")
        new = pattern.sub(lambda _: f"{begin}\n{make()}\n{end}", readme)
        if new != readme:
            stale.append(name)
        readme = new
    return readme, stale


def main():
    with open(README) as f:
        current = f.read()
    updated, stale = render(current)
    if "--check" in sys.argv[1:]:
        if stale:
            print(f"README.md is stale in section(s) {', '.join(stale)}: run `make docs`", file=sys.stderr)
            return 1
        print("README.md reference sections are up to date")
        return 0
    with open(README, "w") as f:
        f.write(updated)
    print("README.md: " + (f"rewrote {', '.join(stale)}" if stale else "already up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
