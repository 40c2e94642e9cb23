"""The manuscript's generated parts: tables, number macros, figures, and the PDF build."""
