"""Import rules of the package's floors (issue 13).

Floors: 1 ``geometry``, ``utils``, ``registry``, ``version``;
2 ``body_models``; 3 ``datasets``, ``evaluation``; 4 ``models``;
5 ``engine``, ``visualization``, ``apis`` (and ``import mpt_plugin``);
above all of them the asset generators (``synthetic``) and test fixtures
(``testing``). A module imports its own floor and lower ones only, and
``datasets``, ``evaluation`` and ``models`` never import each other. Every
``import`` counts: inside functions too, relative or absolute.
"""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / 'mpt_plugin'
FLOORS = dict(geometry=1, utils=1, registry=1, version=1, body_models=2,
              datasets=3, evaluation=3, models=4, engine=5, visualization=5,
              apis=5, __init__=5, synthetic=6, testing=6)
APART = {'datasets', 'evaluation', 'models'}
#: (importer, imported module) pairs that break a rule until fixed.
KNOWN_VIOLATIONS = set()


def _imports():
    """Yield (importer, imported module, imported part of mpt_plugin)."""
    for path in sorted(PKG.rglob('*.py')):
        parts = path.relative_to(PKG.parent).with_suffix('').parts
        name = '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found = [(a.name, a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = parts[:len(parts) - node.level] if node.level else ()
                module = '.'.join(base + tuple(filter(None, [node.module])))
                found = [(module, f'{module}.{a.name}') for a in node.names]
            else:
                continue
            for module, full in found:
                if full.startswith('mpt_plugin.'):  # root: name the part
                    part = full.split('.')[1]
                    yield name, module if '.' in module else full, part


def _violations():
    out = set()
    for name, module, part in _imports():
        own = (name.split('.') + ['__init__'])[1]
        assert own in FLOORS and part in FLOORS, \
            f'{name} -> {module}: give the new part a floor in FLOORS'
        if FLOORS[part] > FLOORS[own] or (own != part and
                                          {own, part} <= APART):
            out.add((name, module))
    return out


def test_lower_floors_never_import_higher_ones():
    assert sorted(_violations() - KNOWN_VIOLATIONS) == []


def test_known_violations_still_exist():
    """A fixed violation leaves KNOWN_VIOLATIONS, so it cannot come back."""
    assert sorted(KNOWN_VIOLATIONS - _violations()) == []
