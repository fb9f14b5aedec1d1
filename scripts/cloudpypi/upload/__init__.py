"""Private uploads: validate a distribution before anything is stored (validate), then store and publish
it beside the mirror (store).  The dependency-confusion guard that keeps the sync away from private names
is cloudpypi.private."""
