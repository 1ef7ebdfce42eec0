import QNetCommands

// All commands live in QNetCommands; this file only starts them.
Entry.main()
