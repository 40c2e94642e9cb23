import sys

from universality import numerics

# before numpy or torch load: training stages on the machine's kernels and cores, the others on the pinned ones
numerics.pin(sys.argv[1] if len(sys.argv) > 1 else None)

from universality.cli import main  # noqa: E402

main()
