from humo.cli import main

main()
