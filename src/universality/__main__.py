from universality import numerics

numerics.pin()  # before numpy or torch load: every stage runs the same kernels on every x86-64 CPU

from universality.cli import main  # noqa: E402

main()
