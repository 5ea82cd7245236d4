"""Gatehouse console entry point: `streamlit run streamlit_app.py`."""

from console.app import main

main()
