ARG BASE
FROM ${BASE}
COPY server.py writer.sh app-start.sh /app/
RUN chmod 755 /app/*.sh /app/server.py
VOLUME /data
EXPOSE 8080
CMD ["/app/app-start.sh"]
