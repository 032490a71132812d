"""The review report a person reads in a pull request: ``cdk.out/review/<env>.md``.

Pure Python over the synthesized JSON/YAML (no ``aws_cdk`` import), so it also runs on a saved
``cdk.out``::

    from constructs_lib.review import write_reviews
    write_reviews(Path(assembly.directory), [stage.config for stage in stages])

or ``python -m constructs_lib.review cdk.out [--baseline OLD_CDK_OUT] [--no-lint]``.
"""

from .render import HEADINGS, SECTION_HEADINGS, build_report, write_reviews

__all__ = ["HEADINGS", "SECTION_HEADINGS", "build_report", "write_reviews"]
