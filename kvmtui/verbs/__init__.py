"""`:` verbs beyond the lifecycle actions, one module per feature.

Each module registers its handlers with `kvmtui.controller.handles`; importing this
package (the app does) makes them all available.
"""

from kvmtui.verbs import (
    console,  # noqa: F401
    display,  # noqa: F401
    migration,  # noqa: F401
    placement,  # noqa: F401
)
