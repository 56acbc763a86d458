"""dslforge: the command line. The libraries are `dsl`, `engine` and `training`."""
