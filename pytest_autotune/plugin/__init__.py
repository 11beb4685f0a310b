"""The pytest layer: options, collection, fixtures, hooks and reports. The only part of the
package that imports pytest; everything it does is a call on the pytest-free core."""
