"""Every public name has a type stub and a docstring `help()` shows."""

import ast
import pathlib
import pydoc

import pacer


def stubbed_names(path):
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def test_every_public_name_is_stubbed_and_documented():
    package = pathlib.Path(pacer.__file__).parent
    assert (package / "py.typed").exists()
    stubs = stubbed_names(package / "__init__.pyi")
    missing = [name for name in pacer.__all__ if name not in stubs]
    assert not missing, f"no stub for {missing}"
    for name in pacer.__all__:
        if name == "__version__":
            continue
        value = getattr(pacer, name)
        assert value.__doc__ and value.__doc__.strip(), f"{name} has no docstring"
    for method in ("add", "run", "stats"):
        assert getattr(pacer.Processor, method).__doc__
    assert "rate-limit event" in pydoc.render_doc(pacer.Processor.stats)
    native = stubbed_names(package / "_pacer.pyi")
    public = {name for name in dir(pacer._pacer) if not name.startswith("_")}
    assert public <= native, f"no stub for {public - native}"
