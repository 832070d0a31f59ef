"""The package's import graph: data flows one way and no module imports one above it.

Read from the source with `ast` (every `import` and `from ... import`, including the lazy ones
inside functions), so an import a test run never reaches still counts. The layers are those of
../shared/DESIGN.md: sources -> transforms -> codec -> model -> decode -> export, training and
evaluation above, the command line above everything.
"""

import ast
import pathlib

import tfcolor

PACKAGE = pathlib.Path(tfcolor.__file__).parent

# Lowest first. A module may import its own layer and the layers below it, never one above.
LAYERS = (
    ("color", "config"),
    ("media",),
    ("input_pipeline",),
    ("codecs",),
    ("models",),
    ("export",),
    ("evaluation",),
    ("training",),
    # Beside training's users: `pretrained` writes runs from released weights.
    ("preprocessing", "benchmarks", "pretrained"),
    ("cli",),
    # The public API and the `python -m tfcolor.<command>` entry points (a package's
    # `__main__`, `python -m tfcolor.export`, is one too).
    (
        "__init__",
        "__main__",
        "train",
        "evaluate",
        "colorize",
        "colorize_beam",
        "refine",
        "preprocess",
        "bench",
        "convert",
    ),
)
LEVEL = {part: level for level, parts in enumerate(LAYERS) for part in parts}


def module_name(path):
    parts = ("tfcolor",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules():
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


MODULES = all_modules()


def layer_name(name):
    """The name `LAYERS` files a module under: its first part below tfcolor, or `__main__`."""
    parts = name.split(".")
    return "__main__" if parts[-1] == "__main__" else parts[1]


def layer_of(name):
    """The layer of a module `tfcolor.<top>...`; the package itself is its public API."""
    parts = name.split(".")
    if parts[-1] == "__main__":
        return LEVEL["__main__"]
    return LEVEL["__init__" if len(parts) == 1 else parts[1]]


def resolve(importer, node):
    """The tfcolor modules that one import statement loads (beyond their parent packages)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == "tfcolor"]
    if node.level:  # relative import: resolve against the importer's package
        path = MODULES[importer]
        package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module
    if base is None or base.split(".")[0] != "tfcolor":
        return []
    # `from tfcolor.codecs import grid` loads the submodule; `from tfcolor.codecs import X`
    # loads the package's __init__.
    names = [f"{base}.{alias.name}" for alias in node.names]
    submodules = [name for name in names if name in MODULES]
    return submodules + ([base] if len(submodules) < len(names) else [])


def import_graph():
    graph = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges = graph.setdefault(name, {})
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in resolve(name, node):
                    if target != name:  # a module naming itself (for pickling) loads nothing
                        edges.setdefault(target, node.lineno)
    return graph


GRAPH = import_graph()


def test_every_module_has_a_layer():
    tops = {layer_name(name) for name in MODULES if name != "tfcolor"}
    assert tops <= set(LEVEL), f"modules outside every layer: {sorted(tops - set(LEVEL))}"


def test_the_graph_is_read_from_the_source():
    # The checks below are only as good as the graph: it must hold imports known to exist,
    # lazy ones inside functions included.
    assert "tfcolor.config" in GRAPH["tfcolor.cli.train"]
    assert any(target.startswith("tfcolor.training") for target in GRAPH["tfcolor.cli.train"])
    assert "tfcolor.color" in GRAPH["tfcolor.input_pipeline.transforms"]
    lazy = GRAPH["tfcolor"]  # the public API imports Colorizer inside __getattr__
    assert any(target.startswith("tfcolor.training") for target in lazy)


def upward_imports(graph):
    return [
        f"{name}:{line} imports {target} ({LAYERS[layer_of(target)][0]} is above "
        f"{LAYERS[layer_of(name)][0]})"
        for name, edges in graph.items()
        for target, line in edges.items()
        if target in graph and layer_of(target) > layer_of(name)
    ]


def circles(graph):
    """Each import circle found by a depth-first search, as a path `a -> b -> a`."""
    white, grey, black = 0, 1, 2
    state = dict.fromkeys(graph, white)
    found = []

    def visit(name, stack):
        state[name] = grey
        stack.append(name)
        for target in graph[name]:
            if target not in graph:
                continue
            if state[target] == grey:
                found.append(" -> ".join(stack[stack.index(target) :] + [target]))
            elif state[target] == white:
                visit(target, stack)
        stack.pop()
        state[name] = black

    for name in graph:
        if state[name] == white:
            visit(name, [])
    return found


def test_no_module_imports_a_higher_layer():
    upward = upward_imports(GRAPH)
    assert not upward, "\n".join(upward)


def test_no_import_circle():
    found = circles(GRAPH)
    assert not found, "import circles:\n" + "\n".join(found)


def test_the_checks_catch_what_they_look_for():
    # The same checks on a made-up graph with one upward import and one circle.
    graph = {
        "tfcolor.color": {"tfcolor.training.colorizer": 3},
        "tfcolor.training.colorizer": {"tfcolor.training.video": 5, "tfcolor.color": 1},
        "tfcolor.training.video": {"tfcolor.training.colorizer": 7},
    }
    assert upward_imports(graph) == [
        "tfcolor.color:3 imports tfcolor.training.colorizer (training is above color)"
    ]
    assert "tfcolor.training.colorizer -> tfcolor.training.video -> tfcolor.training.colorizer" in (
        circles(graph)
    )
