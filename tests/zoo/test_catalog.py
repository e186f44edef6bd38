"""The zoo covers every model the installed Keras and keras-hub export (docs/zoo.md).

Backend-independent: the public names are read from the libraries' generated API files, so
neither library is imported here. A constructor or backbone added by a new release fails this
test until the catalogue (tests/zoo/catalog.py) has a builder for it.
"""

from __future__ import annotations

import catalog


def test_every_keras_application_has_a_builder():
    installed = catalog.installed_application_names()
    assert len(installed) >= 40, f"too few constructors read from keras.applications: {installed}"
    missing = sorted(installed - catalog.catalogued_names(catalog.APPLICATIONS))
    stale = sorted(catalog.catalogued_names(catalog.APPLICATIONS) - installed)
    assert not missing, f"keras.applications constructors with no zoo builder: {missing}"
    assert not stale, f"zoo builders for constructors keras.applications no longer has: {stale}"


def test_every_keras_hub_backbone_has_a_builder():
    exports = catalog.installed_backbone_exports()
    assert len(exports) >= 60, f"too few Backbone classes read from keras_hub.models: {exports}"
    aliases = catalog.hub_aliases()
    catalogued = catalog.catalogued_names(catalog.HUB)
    missing = sorted(
        name
        for name in exports
        if name not in catalogued and name not in aliases and name not in catalog.HUB_ABSTRACT
    )
    assert not missing, f"keras_hub.models backbones with no zoo builder: {missing}"
    assert all(target in catalogued for target in aliases.values()), aliases
    stale = sorted(catalogued - set(exports))
    assert not stale, f"zoo builders for backbones keras_hub.models no longer exports: {stale}"


def test_aliases_are_read_from_the_export_file():
    # keras-hub exports some classes under two names; the catalogue builds each class once.
    exports = catalog.installed_backbone_exports()
    for alias, target in catalog.hub_aliases().items():
        assert exports[alias] == exports[target], (alias, target)


def test_every_model_is_assigned_to_a_backend_that_can_build_it():
    assert catalog.MODELS, "empty catalogue"
    for m in catalog.MODELS:
        assert m.backend in catalog.BACKENDS, m
        assert m.backend not in m.cannot_build, m
        assert set(m.cannot_build) <= set(catalog.BACKENDS), m
        assert all(reason.strip() for reason in m.cannot_build.values()), m


def test_backends_get_a_share():
    load = catalog.ci_load()
    counts = {b: sum(m.backend == b for m in catalog.MODELS) for b in catalog.BACKENDS}
    assert all(counts.values()), counts
    for b in catalog.BACKENDS:  # each backend runs both `@explicit` modes
        assert {m.ci_mode for m in catalog.MODELS if m.backend == b} == set(catalog.CI_MODES), b
    # Longest first to the backend that finishes earliest: none carries most of the work.
    assert max(load.values()) < 0.5 * sum(load.values()), load


def test_builders_take_no_arguments():
    import inspect

    needing = [
        m.name
        for m in catalog.MODELS
        if any(
            p.default is inspect.Parameter.empty
            for p in inspect.signature(m.build).parameters.values()
        )
    ]
    assert not needing, f"builders that need arguments: {needing}"
