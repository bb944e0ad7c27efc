from superpod.faces.cli import main

main()
