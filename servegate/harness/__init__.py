"""What a check runs against: the cluster handle, deployed units, load runs, samplers.

The pytest plugin (``pytest_servegate``) builds these objects from the run's options and
hands them to tests as fixtures; the checks' library (``servegate.checks``) and the suites
are written against the types here, never against the plugin. Errors are raised as
:class:`servegate.errors.UserError`; the plugin turns them into one-line test failures.
"""
