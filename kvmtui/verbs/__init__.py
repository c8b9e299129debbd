"""`:` verbs beyond the lifecycle actions, one module per feature.

Each module registers its handlers with `kvmtui.controller.handles`; importing this
package (the app does) makes them all available.
"""
