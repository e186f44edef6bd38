"""What we know about Keras without importing it: initializers, layer classes, layer-aware fans."""
