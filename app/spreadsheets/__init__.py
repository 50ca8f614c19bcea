"""Spreadsheets in and out: exporting the lists as XLSX/CSV and importing a client base.

`export` writes what a list shows; `reading` turns an uploaded file into rows; `mapping` and
`planning` decide what each row becomes; `importing` applies and undoes an import.
"""
