from kinetic.cli import main

main()
