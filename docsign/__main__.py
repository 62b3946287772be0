from docsign.cli import main

main()
