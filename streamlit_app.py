"""Gatehouse console entry point: `streamlit run streamlit_app.py`.

This file plays two parts. `streamlit run` finds the `st.App` below (it scans the source) and
imports this module to serve it: that adds the sign-in middleware (console/signin_watch.py)
to Streamlit's own server through its public API. The same server then runs this file as the
page script, as `__main__`, which draws the console.
"""

import streamlit as st

if __name__ == "__main__":
    from console.app import main

    main()
else:
    from starlette.middleware import Middleware

    from console.signin_watch import SignInWatch

    app = st.App("streamlit_app.py", middleware=[Middleware(SignInWatch)])
